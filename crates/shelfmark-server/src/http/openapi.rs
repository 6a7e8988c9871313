//! The OpenAPI document of the API (`GET /v1/openapi.json`).

use axum::Json;
use serde_json::{Value, json};

pub async fn serve() -> Json<Value> {
    Json(document())
}

pub fn document() -> Value {
    json!({"openapi": "3.1.0", "info": {"title": "Shelfmark library server", "version": "1"}, "paths": {}})
}
