//! The API described in OpenAPI 3.1, made from the router's own route table
//! and [`RULES`](crate::auth::RULES): every route, what it does and the
//! permission it needs (`x-permission`). Served at `/api/v1/openapi.json`;
//! Swagger UI (vendored in the binary, no CDN) browses it at `/api/docs/`.

use std::sync::OnceLock;

use axum::http::Method;
use axum::Json;
use axum::Router;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Required, ResponseBuilder};

use crate::auth::{rule_for, Need};
use crate::table::Table;
use crate::AppState;

/// Where Swagger UI is.
pub const BROWSER: &str = "/api/docs";

/// `GET /openapi.json`.
pub fn routes() -> Table {
    Table::default().add(Method::GET, "/openapi.json", || async { Json(document().clone()) })
}

/// Swagger UI over [`document`].
pub fn browser() -> Router<AppState> {
    let config = utoipa_swagger_ui::Config::from(format!("{}/openapi.json", crate::API)).show_extensions(true);
    Router::from(utoipa_swagger_ui::SwaggerUi::new(BROWSER).config(config))
}

/// The description, made once.
pub fn document() -> &'static OpenApi {
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    DOC.get_or_init(build)
}

fn http_method(m: &str) -> HttpMethod {
    match m {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        other => panic!("no OpenAPI method for {other}"),
    }
}

fn build() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for route in crate::route_table().into_iter().filter(|r| r.path.starts_with(crate::API)) {
        let method = Method::from_bytes(route.method.as_bytes()).expect("a routed method");
        // A route without a rule is refused to all; the route-table test fails on it.
        let Some(rule) = rule_for(&method, &route.path) else { continue };
        let (permission, needs) = match rule.need {
            Need::Public => ("public".to_string(), "Anyone: no credentials.".to_string()),
            Need::Agent => ("agent".into(), "The netboot environment's per-task token (`Authorization: Bearer`, from `parc.token=`).".into()),
            Need::User => ("user".into(), "Any signed-in user (`Authorization: Bearer` API token).".into()),
            Need::Perm(p) => (p.as_str().to_string(), format!("Permission `{p}` on the object's entity or one above it; 404 when the object is in no entity the caller may see.")),
        };
        let tag = route.path.trim_start_matches(crate::API).trim_start_matches('/').split('/').next().unwrap_or("").trim_end_matches(".json").to_string();
        let mut op = OperationBuilder::new()
            .summary(Some(rule.summary))
            .description(Some(needs))
            .operation_id(Some(format!("{}{}", route.method.to_lowercase(), route.path.trim_start_matches(crate::API).replace(['/', '.', '{', '}'], "_"))))
            .tag(tag)
            .extensions(Some(ExtensionsBuilder::new().add("x-permission", permission).add("x-audited", rule.audited).build()))
            .response("200", ResponseBuilder::new().description("Done; the answer is JSON.").build())
            .response("400", ResponseBuilder::new().description("The request is malformed: `{\"error\": \"…\"}` says how.").build());
        for param in route.path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))) {
            let text = ObjectBuilder::new().schema_type(Type::String).build();
            op = op.parameter(ParameterBuilder::new().name(param).parameter_in(ParameterIn::Path).required(Required::True).schema(Some(text)).build());
        }
        if rule.need != Need::Public {
            op = op
                .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
                .response("401", ResponseBuilder::new().description("No credentials, or an unknown, expired or revoked token.").build());
        }
        if matches!(rule.need, Need::Perm(_)) {
            op = op
                .response("403", ResponseBuilder::new().description("Signed in, without the permission on this object's entity.").build())
                .response("404", ResponseBuilder::new().description("No such object the caller may see.").build());
        }
        paths = paths.path(route.path.clone(), PathItem::new(http_method(&route.method), op.build()));
    }
    let components = ComponentsBuilder::new().security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer))).build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("parc")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("parc's HTTP API: images and chunks, hosts, tasks, accounts and the audit log. API tokens come from `parc login` or `parc token create`. Each operation's `x-permission` names what it needs: a permission, `user` (any signed-in user), `agent` (a task token) or `public`."))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .build()
}
