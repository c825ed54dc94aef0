//! The API's route table: routes are added one method at a time through
//! [`Table`], which builds the router and keeps the list it serves, so the
//! route-table test and the OpenAPI document read the router's own table
//! rather than a copy that could drift from it.

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter};
use axum::Router;

use crate::AppState;

/// One routed method and path (the path as routed, with `{param}`s).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Route {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path under the table's mount point.
    pub path: String,
}

/// A router and the routes it holds.
pub struct Table {
    router: Router<AppState>,
    routes: Vec<Route>,
}

impl Default for Table {
    fn default() -> Self {
        Self { router: Router::new(), routes: Vec::new() }
    }
}

impl Table {
    /// Routes `method path` to `handler`, with axum's default body limit.
    pub fn add<H, T>(self, method: Method, path: &str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add_limited(method, path, handler, None)
    }

    /// The same, accepting bodies up to `limit` bytes (chunks, manifests,
    /// host imports).
    pub fn add_limited<H, T>(mut self, method: Method, path: &str, handler: H, limit: Option<usize>) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a method axum routes");
        let mut endpoint = on(filter, handler);
        if let Some(limit) = limit {
            endpoint = endpoint.layer(DefaultBodyLimit::max(limit));
        }
        // axum merges a second method on a path into the first's router.
        self.router = self.router.route(path, endpoint);
        self.routes.push(Route { method: method.to_string(), path: path.to_string() });
        self
    }

    /// Both tables' routes.
    pub fn merge(mut self, other: Table) -> Self {
        self.router = self.router.merge(other.router);
        self.routes.extend(other.routes);
        self
    }

    /// The routes, in the order they were added.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The router and its routes, for mounting at `prefix`.
    pub fn into_parts(self) -> (Router<AppState>, Vec<Route>) {
        (self.router, self.routes)
    }
}
