//! Finding hosts: a filter, an order, one page and the exact count, in SQL,
//! so a fleet is never loaded to be searched.

use serde::{Deserialize, Serialize};
use sqlx::{QueryBuilder, Sqlite};

use crate::host::{Host, HostState};
use crate::registry::Inventory;
use crate::Result;

/// The order of a result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostSort {
    /// Hostname (hosts without one first), then id.
    Name,
    /// Id: the order hosts became known.
    #[default]
    Id,
    /// The last time the machine was seen (PXE boot, check-in).
    LastSeen,
}

impl HostSort {
    fn key(self) -> &'static str {
        match self {
            HostSort::Name => "COALESCE(h.hostname, '')",
            HostSort::Id => "h.id",
            HostSort::LastSeen => "COALESCE(h.last_seen, 0)",
        }
    }

    /// What to ORDER BY: the same order as `key` (NULL sorts first either
    /// way), but the bare column where an index can give it: a sort on an
    /// expression reads and sorts every host for each page.
    fn order(self) -> &'static str {
        match self {
            HostSort::Name => "h.hostname",
            other => other.key(),
        }
    }
}

/// What to look for among hosts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostQuery {
    /// Words, each of which must match a host's hostname, IP, UUID, serial
    /// number or a MAC (any fragment, any separators); case ignored.
    pub text: Option<String>,
    /// Members of this group.
    pub group: Option<String>,
    /// In this state.
    pub state: Option<HostState>,
    /// In these entities (ids); `None`: anywhere.
    pub entities: Option<Vec<i64>>,
    /// Order.
    pub sort: HostSort,
    /// Descending.
    pub desc: bool,
    /// Keyset paging: the page after this host (the last of the previous page).
    pub after: Option<i64>,
    /// Offset paging, for a jump to a page: hosts to skip (ignored with `after`).
    pub skip: u64,
    /// Page size; `None`: every match.
    pub limit: Option<u32>,
}

/// One page of a search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostPage {
    /// The hosts, in order.
    pub hosts: Vec<Host>,
    /// Every match, on all pages.
    pub total: u64,
}

/// `s` with LIKE's wildcards taken literally (escape `\`).
fn like(s: &str) -> String {
    let mut out = String::from("%");
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// A MAC fragment as stored without separators (`c0:01`, `C0-01`, `c001`
/// alike), when the word could be one.
fn mac_fragment(word: &str) -> Option<String> {
    let hex: String = word.chars().filter(|c| !matches!(c, ':' | '-' | '.')).collect();
    (hex.len() >= 2 && hex.chars().all(|c| c.is_ascii_hexdigit())).then(|| hex.to_ascii_lowercase())
}

fn filter<'a>(q: &'a HostQuery, b: &mut QueryBuilder<'a, Sqlite>) {
    b.push(" FROM hosts h WHERE 1 = 1");
    if let Some(ents) = &q.entities {
        b.push(" AND h.entity_id IN (");
        let mut sep = b.separated(", ");
        sep.push("NULL");
        for e in ents {
            sep.push_bind(*e);
        }
        b.push(")");
    }
    if let Some(st) = q.state {
        b.push(" AND h.state = ").push_bind(st.as_str());
    }
    if let Some(g) = &q.group {
        // IN, not EXISTS: the planner then starts from the group's members
        // (host_groups_name) instead of probing every host.
        b.push(" AND h.id IN (SELECT host_id FROM host_groups WHERE name = ").push_bind(g.as_str()).push(")");
    }
    // find_text and find_macs are kept by triggers (the host_find migration).
    for word in q.text.iter().flat_map(|t| t.split_whitespace()) {
        b.push(" AND (h.find_text LIKE ").push_bind(like(&word.to_lowercase())).push(" ESCAPE '\\'");
        if let Some(mac) = mac_fragment(word) {
            b.push(" OR h.find_macs LIKE ").push_bind(like(&mac));
        }
        b.push(")");
    }
}

impl Inventory {
    /// The hosts `q` selects: one page, and how many match in all.
    pub async fn search(&self, q: &HostQuery) -> Result<HostPage> {
        let mut count = QueryBuilder::new("SELECT COUNT(*)");
        filter(q, &mut count);
        let total: i64 = count.build_query_scalar().fetch_one(self.pool()).await?;
        let mut page = QueryBuilder::new("SELECT h.id");
        filter(q, &mut page);
        let key = q.sort.key();
        let (cmp, dir) = if q.desc { ("<", "DESC") } else { (">", "ASC") };
        if let Some(after) = q.after {
            // The cursor is a host: rows after its (key, id), as it is now.
            page.push(format!(" AND ({key}, h.id) {cmp} (SELECT {key}, h.id FROM hosts h WHERE h.id = ")).push_bind(after).push(")");
        }
        page.push(format!(" ORDER BY {} {dir}, h.id {dir}", q.sort.order()));
        if let Some(limit) = q.limit {
            page.push(" LIMIT ").push_bind(i64::from(limit));
            if q.after.is_none() && q.skip > 0 {
                page.push(" OFFSET ").push_bind(q.skip as i64);
            }
        }
        let ids: Vec<i64> = page.build_query_scalar().fetch_all(self.pool()).await?;
        let hosts = self.load_all(&ids).await?;
        Ok(HostPage { hosts, total: total as u64 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HostSpec, Mac};

    async fn fleet() -> (tempfile::TempDir, Inventory) {
        let dir = tempfile::tempdir().unwrap();
        let db = parc_db::Db::open_sqlite(&dir.path().join("parc.db"), true).await.unwrap();
        db.migrate([crate::migrator()]).await.unwrap();
        let inv = Inventory::new(&db);
        // 25 hosts named in reverse of their ids, in two entities and a group.
        for i in 0..25u8 {
            let spec = HostSpec {
                hostname: Some(format!("pc-{:02}", 24 - i)),
                macs: vec![Mac([0x52, 0x54, 0, 0, 0xc0, i])],
                entity_id: Some(if i % 5 == 0 { 2 } else { 1 }),
                groups: if i < 10 { vec!["lab".into()] } else { vec![] },
                ..Default::default()
            };
            let h = inv.add(spec).await.unwrap();
            if i == 7 {
                inv.set_hardware(h.id, &serde_json::json!({ "dmi": { "product_serial": "SN-XY_77" } })).await.unwrap();
            }
        }
        (dir, inv)
    }

    fn names(p: &HostPage) -> Vec<String> {
        p.hosts.iter().map(|h| h.hostname.clone().unwrap()).collect()
    }

    #[tokio::test]
    async fn search_counts_pages_and_sorts_in_sql() {
        let (_d, inv) = fleet().await;
        let q = |f: &dyn Fn(&mut HostQuery)| {
            let mut q = HostQuery::default();
            f(&mut q);
            q
        };
        // Keyset pages by name walk every host once, in order, with the exact count each time.
        let mut seen = Vec::new();
        let mut after = None;
        for _ in 0..10 {
            let page = inv.search(&q(&|q| { q.sort = HostSort::Name; q.limit = Some(10); q.after = after; })).await.unwrap();
            assert_eq!(page.total, 25);
            if page.hosts.is_empty() {
                break;
            }
            after = page.hosts.last().map(|h| h.id);
            seen.extend(names(&page));
        }
        let want: Vec<String> = (0..25).map(|i| format!("pc-{i:02}")).collect();
        assert_eq!(seen, want);
        // A jump to the third page, descending.
        let p3 = inv.search(&q(&|q| { q.sort = HostSort::Name; q.desc = true; q.limit = Some(10); q.skip = 20; })).await.unwrap();
        assert_eq!(names(&p3), ["pc-04", "pc-03", "pc-02", "pc-01", "pc-00"]);
        // Filters: a MAC fragment in any spelling, the serial (LIKE's `_` taken literally), a group, entities.
        assert_eq!(names(&inv.search(&q(&|q| q.text = Some("C0-07".into()))).await.unwrap()), ["pc-17"]);
        assert_eq!(names(&inv.search(&q(&|q| q.text = Some("sn-xy_7".into()))).await.unwrap()), ["pc-17"]);
        assert_eq!(inv.search(&q(&|q| q.text = Some("sn-xyz".into()))).await.unwrap().total, 0);
        assert_eq!(inv.search(&q(&|q| q.group = Some("lab".into()))).await.unwrap().total, 10);
        assert_eq!(inv.search(&q(&|q| q.entities = Some(vec![2]))).await.unwrap().total, 5);
        assert_eq!(inv.search(&q(&|q| q.entities = Some(vec![]))).await.unwrap().total, 0, "no entity: nothing");
        let both = inv.search(&q(&|q| { q.text = Some("pc- 1".into()); q.entities = Some(vec![1]); q.group = Some("lab".into()); })).await.unwrap();
        // Every word must match: Site A's lab hosts whose name holds a 1, in id order.
        assert_eq!((both.total, names(&both)), (5, ["pc-21", "pc-18", "pc-17", "pc-16", "pc-15"].map(String::from).to_vec()));

        // What is searched follows every change: new name, MAC and IP found, the old ones not.
        let edit = crate::HostEdit { hostname: Some("renamed".into()), macs: Some(vec![Mac([0x52, 0x54, 0, 0, 0xee, 0x01])]), ip: Some("198.18.7.9".parse().unwrap()), ..Default::default() };
        inv.edit("pc-17", edit).await.unwrap();
        for (word, found) in [("renamed", 1), ("pc-17", 0), ("ee:01", 1), ("c0-07", 0), ("198.18.7.9", 1), ("sn-xy_7", 1)] {
            assert_eq!(inv.search(&q(&|q| q.text = Some(word.into()))).await.unwrap().total, found, "{word}");
        }
        inv.set_hardware(8, &serde_json::json!({ "dmi": { "product_serial": "NEW-SERIAL" } })).await.unwrap();
        assert_eq!(inv.search(&q(&|q| q.text = Some("new-serial".into()))).await.unwrap().total, 1);
        assert_eq!(inv.search(&q(&|q| q.text = Some("sn-xy".into()))).await.unwrap().total, 0);
    }

    #[test]
    fn mac_fragments_and_like_patterns() {
        assert_eq!(mac_fragment("C0:01").as_deref(), Some("c001"));
        assert_eq!(mac_fragment("c0-01").as_deref(), Some("c001"));
        assert_eq!(mac_fragment("lab"), None);
        assert_eq!(mac_fragment("a"), None);
        assert_eq!(like("50%_a\\"), "%50\\%\\_a\\\\%");
    }
}
