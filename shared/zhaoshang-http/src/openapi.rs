//! The OpenAPI 3.1 document, assembled from the services' route tables.
//!
//! Schemas come from the Rust types (schemars, JSON Schema 2020-12, which
//! OpenAPI 3.1 uses as is), so the document cannot drift from the code that
//! parses the bodies.

use schemars::{JsonSchema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};

/// A query-string parameter of an endpoint.
#[derive(Debug, Clone)]
pub struct QueryParam {
    /// Its name.
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
    /// Its JSON Schema type (`string`, `integer`, `boolean`).
    pub schema_type: &'static str,
}

/// One endpoint, as documented.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `get`, `post`, `put`.
    pub method: &'static str,
    /// The path, with `{id}` placeholders.
    pub path: &'static str,
    /// The group it belongs to.
    pub tag: &'static str,
    /// One line, in Chinese, for the bureau's developers and staff.
    pub summary: &'static str,
    /// The request body's schema.
    pub request: Option<Value>,
    /// The success response's schema.
    pub response: Option<Value>,
    /// The success status.
    pub status: u16,
    /// Query parameters.
    pub query: Vec<QueryParam>,
    /// Headers the endpoint reads, with their descriptions.
    pub headers: Vec<(&'static str, &'static str)>,
}

/// Collects endpoints and the schemas they use.
pub struct OpenApiBuilder {
    generator: SchemaGenerator,
    endpoints: Vec<Endpoint>,
}

impl Default for OpenApiBuilder {
    fn default() -> Self {
        let mut settings = SchemaSettings::draft2020_12();
        settings.definitions_path = "/components/schemas".into();
        Self { generator: settings.into_generator(), endpoints: Vec::new() }
    }
}

impl OpenApiBuilder {
    /// The schema of `T`, as a reference into the document's components.
    pub fn schema<T: JsonSchema + ?Sized>(&mut self) -> Value {
        self.generator.subschema_for::<T>().to_value()
    }

    /// Adds an endpoint.
    pub fn add(&mut self, endpoint: Endpoint) {
        self.endpoints.push(endpoint);
    }

    /// Merges another builder's endpoints and schemas into this one.
    pub fn merge(&mut self, mut other: OpenApiBuilder) {
        let definitions = other.generator.take_definitions(true);
        self.generator.definitions_mut().extend(definitions);
        self.endpoints.append(&mut other.endpoints);
    }

    /// The finished document.
    pub fn build(mut self, title: &str, version: &str) -> Value {
        let problem = self.schema::<crate::Problem>();
        let mut paths = Map::new();
        for endpoint in &self.endpoints {
            let mut parameters: Vec<Value> = Vec::new();
            for segment in endpoint.path.split('/') {
                if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    parameters
                        .push(json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}));
                }
            }
            for q in &endpoint.query {
                parameters.push(json!({"name": q.name, "in": "query", "required": false, "description": q.description, "schema": {"type": q.schema_type}}));
            }
            for (name, description) in &endpoint.headers {
                parameters.push(json!({"name": name, "in": "header", "required": false, "description": description, "schema": {"type": "string"}}));
            }
            let mut responses = Map::new();
            // A `format` parameter means the answer comes in several
            // representations (a download as XLSX or CSV, or JSON): all are documented.
            let downloadable = endpoint.query.iter().any(|q| q.name == "format");
            let success = match (&endpoint.response, downloadable) {
                (Some(schema), false) => {
                    json!({"description": "成功", "content": {"application/json": {"schema": schema}}})
                }
                (Some(schema), true) => json!({"description": "成功（按 format 参数）", "content": {
                    "application/json": {"schema": schema},
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
                        {"schema": {"type": "string", "format": "binary"}},
                    "text/csv": {"schema": {"type": "string"}}
                }}),
                (None, _) => json!({"description": "成功"}),
            };
            responses.insert(endpoint.status.to_string(), success);
            let problem_response = json!({"description": "错误（RFC 9457 problem+json）", "content": {"application/problem+json": {"schema": problem}}});
            responses.insert("default".to_owned(), problem_response);
            let mut operation = json!({
                "tags": [endpoint.tag],
                "summary": endpoint.summary,
                "operationId": format!("{}_{}", endpoint.method, endpoint.path.trim_start_matches('/').replace(['/', '{', '}', '-'], "_")),
                "parameters": parameters,
                "responses": responses,
            });
            if crate::auth::OPEN_PATHS.contains(&endpoint.path) {
                // The only operations that need no token (see `auth::Policy`).
                operation["security"] = json!([]);
            }
            if let Some(schema) = &endpoint.request {
                operation["requestBody"] =
                    json!({"required": true, "content": {"application/json": {"schema": schema}}});
            }
            let item = paths.entry(endpoint.path.to_owned()).or_insert_with(|| json!({}));
            item[endpoint.method] = operation;
        }
        let schemas = Value::Object(self.generator.take_definitions(true));
        json!({
            "openapi": "3.1.0",
            "info": {
                "title": title,
                "version": version,
                "description": "zhaoshang（招商）: 柳州科技系统科技招商三年行动的记录系统。写操作追加不可变事件，查询读取由事件构建的读模型。",
            },
            "servers": [{"url": "http://127.0.0.1:8080"}],
            "paths": paths,
            "security": [{"bearer": []}],
            "components": {
                "schemas": schemas,
                "securitySchemes": {"bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "统一身份认证（或本地模式 `zhaoshang token`）签发的访问令牌；角色见 README。缺少或无效：401；角色或专班不符：403。",
                }},
            },
        })
    }
}
