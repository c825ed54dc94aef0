//! The hosts screen: find by hostname, MAC fragment, IP, UUID or serial,
//! filter by state and group, sort, and page with exact counts. The URL
//! holds the whole filter, so reload and back restore it.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Extension;
use parc_inventory::{HostQuery, HostSort, HostState};
use serde::Deserialize;

use super::session::encode;
use super::{error_page, html, Page};
use crate::auth::{Principal, RouteScope};
use crate::AppState;

/// Hosts per page.
const PAGE: u64 = 50;

/// The filter, as the URL holds it.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filter {
    #[serde(default)]
    q: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    desc: bool,
    page: Option<u64>,
    /// Keyset paging: the page after this host, the previous page's last
    /// (Next follows it, so a deep page costs what the first does).
    after: Option<i64>,
}

struct Row {
    id: i64,
    name: String,
    macs: String,
    ip: String,
    state: &'static str,
    groups: String,
    seen: String,
}

#[derive(Template)]
#[template(path = "hosts.html")]
struct HostsPage {
    page: Page,
    q: String,
    state: String,
    group: String,
    sort: &'static str,
    desc: bool,
    at: u64,
    pages: u64,
    total: u64,
    rows: Vec<Row>,
}

impl HostsPage {
    /// The filter's fields other than the page, for links and forms.
    fn kept(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        for (k, val) in [("q", &self.q), ("state", &self.state), ("group", &self.group)] {
            if !val.is_empty() {
                v.push((k, val.clone()));
            }
        }
        v.push(("sort", self.sort.to_string()));
        if self.desc {
            v.push(("desc", "true".into()));
        }
        v
    }

    fn link(fields: &[(&str, String)]) -> String {
        let q: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
        format!("/hosts?{}", q.join("&"))
    }

    /// Whether anything narrows the list: only then may "all matching" be chosen.
    fn filtered(&self) -> bool {
        !(self.q.trim().is_empty() && self.state.is_empty() && self.group.trim().is_empty())
    }

    /// This filter at page `n`.
    fn at_page(&self, n: u64) -> String {
        let mut f = self.kept();
        f.push(("page", n.to_string()));
        Self::link(&f)
    }

    /// The next page, by keyset from this page's last host.
    fn next_page(&self) -> String {
        let mut f = self.kept();
        f.push(("page", (self.at + 1).to_string()));
        if let Some(last) = self.rows.last() {
            f.push(("after", last.id.to_string()));
        }
        Self::link(&f)
    }

    /// This filter sorted by `key`: ascending, or flipped when it already is.
    fn sorted_by(&self, key: &str) -> String {
        let mut f: Vec<_> = self.kept().into_iter().filter(|(k, _)| *k != "sort" && *k != "desc").collect();
        f.push(("sort", key.to_string()));
        if self.sort == key && !self.desc {
            f.push(("desc", "true".into()));
        }
        Self::link(&f)
    }
}

/// "4 min ago", or "never".
fn ago(at: Option<i64>, now: i64) -> String {
    let Some(at) = at else { return "never".into() };
    let s = (now - at).max(0);
    match s {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", s / 60),
        3600..86400 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86400),
    }
}

pub(crate) async fn page(State(s): State<AppState>, Extension(p): Extension<Principal>, Extension(RouteScope(scope)): Extension<RouteScope>, Query(f): Query<Filter>) -> Response {
    let (sort, key) = match f.sort.as_str() {
        "last_seen" => (HostSort::LastSeen, "last_seen"),
        "id" => (HostSort::Id, "id"),
        _ => (HostSort::Name, "name"),
    };
    let state = f.state.parse::<HostState>().ok();
    let page = f.page.unwrap_or(1).max(1);
    let query = HostQuery {
        text: Some(f.q.clone()).filter(|t| !t.trim().is_empty()),
        group: Some(f.group.clone()).filter(|g| !g.trim().is_empty()),
        state,
        entities: scope.entities(),
        sort,
        desc: f.desc,
        after: f.after,
        skip: (page - 1) * PAGE,
        limit: Some(PAGE as u32),
    };
    let found = match s.inventory.search(&query).await {
        Ok(found) => found,
        Err(e) => {
            let e = crate::error::ApiError::from(e);
            return error_page(e.status(), e.message());
        }
    };
    let now = parc_db::unix_now();
    let rows = found
        .hosts
        .iter()
        .map(|h| Row {
            id: h.id,
            name: h.hostname.clone().unwrap_or_else(|| "-".into()),
            macs: h.macs.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(" "),
            ip: h.ip.map_or_else(|| "-".into(), |ip| ip.to_string()),
            state: h.state.as_str(),
            groups: h.groups.join(", "),
            seen: ago(h.last_seen, now),
        })
        .collect();
    let pages = found.total.div_ceil(PAGE).max(1);
    html(&HostsPage {
        page: Page::of(&s, &p, "hosts").await,
        q: f.q,
        state: state.map_or(String::new(), |s| s.as_str().to_string()),
        group: f.group,
        sort: key,
        desc: f.desc,
        at: page,
        pages,
        total: found.total,
        rows,
    })
}
