//! The OpenAPI 3.1 document of the API (`GET /v1/openapi.json`).
//!
//! It is built from [`super::ROUTES`], the same table the tests compare with the router, so a
//! route cannot be added or removed without the document following (a test starts the server
//! and checks that every documented operation is answered by a real route, and that the
//! document lists exactly the routes). Schemas mirror `shelfmark_core::model` and `wire`.

use axum::Json;
use serde_json::{Map, Value, json};

use shelfmark_core::wire::Role;

use super::ROUTES;
use crate::records::{Books, Copies, Escalations, Holds, Kind, Patrons, PurchaseRequests};

pub async fn serve() -> Json<Value> {
    Json(document())
}

fn problem_ref(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

fn json_ref(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

fn record_schema(path: &str) -> &'static str {
    if path.starts_with("/v1/books") {
        "Book"
    } else if path.starts_with("/v1/copies") {
        "Copy"
    } else if path.starts_with("/v1/holds") {
        "Hold"
    } else if path.starts_with("/v1/loans") {
        "Loan"
    } else if path.starts_with("/v1/escalations") {
        "Escalation"
    } else if path.starts_with("/v1/purchase-requests") {
        "PurchaseRequest"
    } else {
        "Patron"
    }
}

/// Who may read the history of the records under `path`: the kind's rule,
/// [`Kind::HISTORY_ROLE`] (a kind not named here is a librarian's, the rule's default).
fn history_role(path: &str) -> Role {
    match record_schema(path) {
        "Patron" => Patrons::HISTORY_ROLE,
        "Copy" => Copies::HISTORY_ROLE,
        "Hold" => Holds::HISTORY_ROLE,
        "Escalation" => Escalations::HISTORY_ROLE,
        "PurchaseRequest" => PurchaseRequests::HISTORY_ROLE,
        _ => Books::HISTORY_ROLE,
    }
}

/// The operation object of one route.
fn operation(method: &str, path: &str) -> Value {
    let auth_errors = [
        (
            "401",
            problem_ref("Missing, unknown or expired token (`unauthorized`)"),
        ),
        (
            "403",
            problem_ref("The user's role does not allow this (`forbidden`)"),
        ),
    ];
    let id_param = json!({"name": "id", "in": "path", "required": true,
                          "schema": {"type": "string", "format": "uuid"}});
    let if_none_match = json!({"name": "If-None-Match", "in": "header", "schema": {"type": "string"},
        "description": "Entity-tags (or `*`); a match answers 304 with the ETag and no body"});
    let if_match = json!({"name": "If-Match", "in": "header", "schema": {"type": "string"},
        "description": "The ETag the change is based on (strong comparison), or `*`"});
    // A deletion without `If-Match` is refused (428): the header is required.
    let if_match_required = json!({"name": "If-Match", "in": "header", "required": true,
        "schema": {"type": "string"},
        "description": "The ETag the deletion is based on (strong comparison), or `*`"});
    let schema = record_schema(path);
    let mut op = Map::new();
    let mut responses = Map::new();
    let mut parameters = Vec::new();
    let mut not_ready = false;
    match (method, path) {
        ("GET", "/healthz") => {
            op.insert(
                "summary".into(),
                json!("Liveness: the process serves (no token)"),
            );
            op.insert("security".into(), json!([]));
            responses.insert("200".into(), json!({"description": "Serving",
                "content": {"application/json": {"schema": {"type": "object", "required": ["status"],
                "properties": {"status": {"const": "ok"}}}}}}));
        }
        ("GET", "/readyz") => {
            op.insert(
                "summary".into(),
                json!("Readiness: the database answers and its schema is this server's (no token)"),
            );
            op.insert("security".into(), json!([]));
            responses.insert("200".into(), json!({"description": "Ready to serve requests",
                "content": {"application/json": {"schema": {"type": "object", "required": ["status"],
                "properties": {"status": {"const": "ready"}}}}}}));
            not_ready = true;
        }
        ("DELETE", "/v1/sessions/current") => {
            op.insert(
                "summary".into(),
                json!("Sign out: the request's token answers 401 from then on"),
            );
            responses.insert("204".into(), json!({"description": "Signed out"}));
        }
        ("POST", "/v1/sessions") => {
            op.insert(
                "summary".into(),
                json!("Log in: a username and password for a bearer token"),
            );
            op.insert("security".into(), json!([]));
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json":
                {"schema": {"$ref": "#/components/schemas/SessionRequest"}}}}),
            );
            responses.insert(
                "201".into(),
                json!({"description": "Logged in", "content": {"application/json":
                {"schema": {"$ref": "#/components/schemas/SessionResponse"}}}}),
            );
            responses.insert("400".into(), problem_ref("Malformed body (`validation`)"));
            responses.insert(
                "401".into(),
                problem_ref("Wrong username or password (`unauthorized`)"),
            );
            responses.insert(
                "413".into(),
                problem_ref("Body over the limit (`payload-too-large`)"),
            );
            responses.insert("429".into(), json!({
                "description": "Too many failed sign-ins for this name from this address (`too-many-attempts`): wait `Retry-After` seconds",
                "headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/RetryProblem"}}}}));
        }
        ("GET", "/v1/openapi.json") => {
            op.insert("summary".into(), json!("This document"));
            op.insert("security".into(), json!([]));
            responses.insert(
                "200".into(),
                json!({"description": "The OpenAPI document",
                "content": {"application/json": {"schema": {"type": "object"}}}}),
            );
        }
        ("GET", "/v1/changes") => {
            op.insert("summary".into(), json!("The change feed: records changed after `since`, each once with its latest state"));
            parameters.push(json!({"name": "since", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}}));
            parameters.push(json!({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 1000}}));
            parameters.push(if_none_match.clone());
            responses.insert(
                "200".into(),
                json_ref(
                    "A page of changes; ETag is the latest sequence number",
                    "ChangeFeed",
                ),
            );
            responses.insert("304".into(), json!({"description": "Nothing changed since the ETag", "headers": {"ETag": {"$ref": "#/components/headers/ETag"}}}));
            responses.insert(
                "400".into(),
                problem_ref("Bad `since` or `limit` (`validation`)"),
            );
        }
        ("GET", p) if !p.contains("{id}") => {
            op.insert(
                "summary".into(),
                json!(format!(
                    "List {}, in id order, paged with an opaque cursor",
                    &p[4..]
                )),
            );
            parameters.push(json!({"name": "q", "in": "query", "schema": {"type": "string"},
                "description": "Full-text search (books: title, authors, subjects, ISBN); every word must match a word's prefix"}));
            parameters.push(json!({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}));
            parameters.push(json!({"name": "cursor", "in": "query", "schema": {"type": "string"}}));
            if p == "/v1/copies" {
                parameters.push(json!({"name": "book_id", "in": "query", "schema": {"type": "string", "format": "uuid"}}));
                parameters.push(json!({"name": "status", "in": "query", "schema": {"$ref": "#/components/schemas/CopyStatus"}}));
            }
            if p == "/v1/loans" {
                for (name, what) in [
                    ("patron_id", "The patron's loans"),
                    ("copy_id", "The copy's loans"),
                ] {
                    parameters.push(json!({"name": name, "in": "query", "description": what,
                        "schema": {"type": "string", "format": "uuid"}}));
                }
                parameters.push(json!({"name": "status", "in": "query",
                    "schema": {"type": "string", "enum": ["on_loan", "returned"]}}));
            }
            if p == "/v1/patrons" {
                parameters.push(
                    json!({"name": "card", "in": "query", "schema": {"type": "string"},
                    "description": "The patron whose library card this is (a scanned card)"}),
                );
            }
            parameters.push(if_none_match.clone());
            responses.insert("200".into(), json!({"description": "A page", "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
                "content": {"application/json": {"schema": {"type": "object", "required": ["items", "next_cursor"], "properties": {
                    "items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{schema}")}},
                    "next_cursor": {"type": ["string", "null"]}}}}}}));
            responses.insert(
                "304".into(),
                json!({"description": "The page has not changed"}),
            );
            responses.insert(
                "400".into(),
                problem_ref("Bad filter, limit or cursor (`validation`)"),
            );
        }
        ("POST", p) if p.starts_with("/v1/escalations/") => {
            let action = p.rsplit('/').next().unwrap_or_default();
            let (summary, body, ok) = match action {
                "reassign" => (
                    "Give the premium patron the copy of a regular patron's active hold (that hold is cancelled with `cancel_reason: reassigned`, its patron mailed); managers only",
                    json!({"type": "object", "required": ["hold_id"], "properties": {
                        "hold_id": {"type": "string", "format": "uuid"}, "note": {"type": "string"},
                        "new_hold_id": {"type": "string", "format": "uuid", "description": "Optional id of the new hold"}}}),
                    (
                        "200",
                        json!({"description": "The escalation (new ETag) and the new hold", "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
                        "content": {"application/json": {"schema": {"type": "object", "properties": {
                            "escalation": {"$ref": "#/components/schemas/Escalation"}, "hold": {"$ref": "#/components/schemas/Hold"}}}}}}),
                    ),
                ),
                "purchase" => (
                    "Flag a purchase: a purchase request; the next new copy of the book goes to the patron; managers only",
                    json!({"type": "object", "properties": {
                        "quantity": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1}, "note": {"type": "string"},
                        "id": {"type": "string", "format": "uuid", "description": "Optional id of the purchase request"}}}),
                    ("201", {
                        let mut created = json_ref("The purchase request", "PurchaseRequest");
                        created["headers"]["Location"] = json!({"schema": {"type": "string"}});
                        created
                    }),
                ),
                _ => (
                    "Close the escalation by hand, with a note; managers only",
                    json!({"type": "object", "required": ["note"], "properties": {"note": {"type": "string", "minLength": 1}}}),
                    (
                        "200",
                        json_ref("The escalation, with its new ETag", "Escalation"),
                    ),
                ),
            };
            op.insert("summary".into(), json!(summary));
            parameters.push(id_param.clone());
            parameters.push(json!({"name": "If-Match", "in": "header", "required": true, "schema": {"type": "string"},
                "description": "The escalation's ETag (from the change feed or its GET)"}));
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json": {"schema": body}}}),
            );
            responses.insert(ok.0.into(), ok.1);
            responses.insert(
                "400".into(),
                problem_ref("A bad body, or a hold that cannot be reassigned (`validation`)"),
            );
            responses.insert(
                "412".into(),
                problem_ref("`If-None-Match: *`: the escalation exists (`precondition-failed`)"),
            );
            responses.insert(
                "413".into(),
                problem_ref("Body over the limit (`payload-too-large`)"),
            );
            responses.insert(
                "404".into(),
                problem_ref("No such escalation (`not-found`)"),
            );
            responses.insert("409".into(), json!({"description": "Stale `If-Match`, an escalation no longer open, or a hold that moved: `current` is its state (`edit-conflict`); nothing was done",
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/EditConflictProblem"}}}}));
            responses.insert(
                "428".into(),
                problem_ref("No If-Match (`precondition-required`)"),
            );
        }
        ("GET", "/v1/escalations/{id}") => {
            op.insert("summary".into(), json!("Read an escalation with what the manager needs to decide: the patron, the book, every active hold on its copies (holder, premium, branch, since), the purchase requests for the book"));
            parameters.push(id_param.clone());
            parameters.push(if_none_match.clone());
            responses.insert(
                "200".into(),
                json_ref("The escalation and its context", "EscalationDetail"),
            );
            responses.insert("304".into(), json!({"description": "Not modified", "headers": {"ETag": {"$ref": "#/components/headers/ETag"}}}));
            responses.insert(
                "404".into(),
                problem_ref("No such escalation (`not-found`)"),
            );
        }
        ("GET", "/v1/books/{id}/contests") => {
            op.insert("summary".into(), json!("Why a patron got a copy of this book and another did not: every hold placement decided for the book, in the order decided, with its outcome (won with the copy, lost with the escalation opened for a premium patron), and each copy a manager reassigned (from which hold, to which, by whom, with the note)"));
            parameters.push(id_param.clone());
            responses.insert("200".into(), json!({"description": "The decisions, oldest first",
                "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/ContestEntry"}}}}}));
            responses.insert("404".into(), problem_ref("No such book (`not-found`)"));
        }
        ("GET", p) if p.ends_with("/revisions") => {
            let readers = match history_role(p) {
                Role::Librarian => "librarians and managers",
                Role::Manager => "managers only",
            };
            op.insert(
                "summary".into(),
                json!(format!("The record's history, newest first ({readers})")),
            );
            parameters.push(id_param.clone());
            responses.insert("200".into(), json!({"description": "Every revision, deletions included, newest first", "content": {"application/json":
                {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Revision"}}}}}));
            responses.insert("404".into(), problem_ref("No such record (`not-found`)"));
        }
        ("GET", _) => {
            op.insert(
                "summary".into(),
                json!(format!(
                    "Read a {} (conditional; HEAD works too)",
                    schema.to_lowercase()
                )),
            );
            parameters.push(id_param.clone());
            parameters.push(if_none_match.clone());
            responses.insert("200".into(), json_ref("The record", schema));
            responses.insert("304".into(), json!({"description": "Not modified", "headers": {"ETag": {"$ref": "#/components/headers/ETag"}}}));
            responses.insert("404".into(), problem_ref("No such record (`not-found`)"));
        }
        ("PUT", _) => {
            op.insert("summary".into(), json!(format!(
                "Create (`If-None-Match: *`) or update (`If-Match`) a {}: every write is conditional", schema.to_lowercase())));
            parameters.push(id_param.clone());
            parameters.push(if_match.clone());
            parameters.push(
                json!({"name": "If-None-Match", "in": "header", "schema": {"type": "string"},
                "description": "`*` to create: 412 if the id exists, even with If-Match. An update needs If-Match: a tag list here without it is a 428"}),
            );
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json":
                {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}}),
            );
            responses.insert(
                "200".into(),
                json_ref(
                    "Updated: the stored representation and its new ETag",
                    schema,
                ),
            );
            let mut created = json_ref("Created", schema);
            created["headers"]["Location"] = json!({"schema": {"type": "string"}});
            responses.insert("201".into(), created);
            responses.insert(
                "400".into(),
                problem_ref("Malformed JSON or a broken rule, with field errors (`validation`)"),
            );
            responses.insert(
                "404".into(),
                problem_ref("`If-Match` on a record that does not exist (`not-found`)"),
            );
            responses.insert("409".into(), json!({"description": "`edit-conflict` (stale `If-Match`: current, current_etag, base, base_etag), `duplicate` (existing_id), for a hold `hold-unavailable` (no copy free: book_id, patron_premium, and escalation_id for a premium patron), or for a loan `copy-unavailable` (the copy is on loan, held for another patron or missing: copy)",
                "content": {"application/problem+json": {"schema": {"oneOf": [
                    {"$ref": "#/components/schemas/EditConflictProblem"},
                    {"$ref": "#/components/schemas/DuplicateProblem"},
                    {"$ref": "#/components/schemas/HoldUnavailableProblem"},
                    {"$ref": "#/components/schemas/CopyUnavailableProblem"}]}}}}));
            responses.insert(
                "412".into(),
                problem_ref("`If-None-Match: *` and the id exists, whatever else the request carries; or If-Match holds and an If-None-Match tag names the current state (`precondition-failed`)"),
            );
            responses.insert(
                "413".into(),
                problem_ref("Body over the limit (`payload-too-large`)"),
            );
            responses.insert(
                "428".into(),
                problem_ref("Neither If-Match nor If-None-Match: *, e.g. only an If-None-Match tag list (`precondition-required`)"),
            );
        }
        ("DELETE", _) => {
            op.insert(
                "summary".into(),
                json!(format!(
                    "Delete a {} (`If-Match` required)",
                    schema.to_lowercase()
                )),
            );
            parameters.push(id_param.clone());
            parameters.push(if_match_required.clone());
            responses.insert("204".into(), json!({"description": "Deleted"}));
            responses.insert("404".into(), problem_ref("No such record (`not-found`)"));
            responses.insert("409".into(), json!({"description": "Stale `If-Match` (`edit-conflict`, with current), or others still depend on the record (`in-use`, with dependents: a book's copies; a copy's active or ready hold and open loan; a patron's active or ready holds, open loans and open escalations)",
                "content": {"application/problem+json": {"schema": {"oneOf": [
                    {"$ref": "#/components/schemas/EditConflictProblem"},
                    {"$ref": "#/components/schemas/InUseProblem"}]}}}}));
            responses.insert(
                "428".into(),
                problem_ref("No If-Match (`precondition-required`)"),
            );
        }
        _ => {}
    }
    let public = op.contains_key("security");
    if !public {
        for (code, response) in auth_errors {
            responses.insert(code.into(), response);
        }
    }
    // Any request may be shed when the server is at its limit, or run past its deadline.
    let unavailable = if not_ready {
        "Not ready (`not-ready`), or the server is shedding load (`overloaded`: try again after `Retry-After` seconds)"
    } else {
        "The server is shedding load or the request ran past its deadline (`overloaded`): try again after `Retry-After` seconds"
    };
    responses.insert("503".into(), json!({"description": unavailable,
        "headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}));
    if !parameters.is_empty() {
        op.insert("parameters".into(), Value::Array(parameters));
    }
    op.insert("responses".into(), Value::Object(responses));
    Value::Object(op)
}

fn components() -> Value {
    let uuid = json!({"type": "string", "format": "uuid"});
    let mut components = json!({
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "headers": {"ETag": {"description": "Strong entity-tag of the representation", "schema": {"type": "string"}},
            "RetryAfter": {"description": "Seconds to wait before trying again", "schema": {"type": "integer", "minimum": 0}}},
        "schemas": {
            "Book": {"type": "object", "required": ["id", "isbn", "title"], "properties": {
                "id": uuid, "isbn": {"type": "string", "description": "ISBN-13, checksum verified; stored without hyphens; empty for a book without one"},
                "title": {"type": "string", "minLength": 1},
                "authors": {"type": "array", "items": {"type": "string"}},
                "publisher": {"type": "string"}, "year": {"type": ["integer", "null"], "minimum": 0, "maximum": 2100},
                "subjects": {"type": "array", "items": {"type": "string"}},
                "summary": {"type": "string", "description": "Multi-line text"},
                "notes": {"type": "string", "description": "Multi-line staff notes"}}},
            "CopyStatus": {"type": "string", "enum": ["available", "on_loan", "held", "missing"]},
            "Copy": {"type": "object", "required": ["id", "book_id", "barcode", "branch", "status"], "properties": {
                "id": uuid, "book_id": uuid, "barcode": {"type": "string", "description": "Unique among copies"},
                "branch": {"type": "string"}, "call_number": {"type": "string"},
                "status": {"$ref": "#/components/schemas/CopyStatus"}}},
            "Patron": {"type": "object", "required": ["id", "name", "email", "branch"], "properties": {
                "id": uuid, "name": {"type": "string", "description": "One line: no control characters"},
                "email": {"type": "string", "format": "idn-email", "description": "An email address; internationalised addresses (RFC 6531) are allowed"},
                "premium": {"type": "boolean", "description": "Set or changed by a manager only (403 for a librarian)"},
                "branch": {"type": "string"},
                "card": {"type": "string", "description": "The library card's barcode, unique among patrons (409 duplicate); may be empty"},
                "notes": {"type": "string", "description": "Staff notes"}}},
            "Hold": {"type": "object", "required": ["id", "patron_id", "book_id"], "properties": {
                "id": uuid, "patron_id": uuid, "book_id": uuid,
                "copy_id": {"type": ["string", "null"], "format": "uuid", "description": "Set by the server when the hold is placed"},
                "status": {"type": "string", "enum": ["active", "ready", "cancelled", "fulfilled"], "description": "Set by the server on creation (`active`); then `ready` (on the hold shelf), `fulfilled` (collected: a loan is made) or `cancelled`, each by a PUT with If-Match"},
                "cancel_reason": {"type": ["string", "null"], "enum": ["patron", "staff", "reassigned", "expired", null], "description": "A desk gives `patron` or `staff` (the default); the server sets `reassigned` and `expired`"},
                "pickup_branch": {"type": "string", "description": "Where the copy waits; the patron's branch by default"},
                "placed_at": {"type": ["string", "null"], "format": "date-time", "description": "Set by the server"},
                "ready_at": {"type": ["string", "null"], "format": "date-time", "description": "Set by the server when the hold becomes ready"},
                "pickup_by": {"type": ["string", "null"], "format": "date-time", "description": "Set by the server (its pickup window after ready_at); a ready hold still waiting then is cancelled as expired"},
                "fulfilled_at": {"type": ["string", "null"], "format": "date-time", "description": "Set by the server"},
                "loan_id": {"type": ["string", "null"], "format": "uuid", "description": "The loan made when the hold was collected"}}},
            "Loan": {"type": "object", "required": ["id", "copy_id", "patron_id"], "properties": {
                "id": uuid, "copy_id": uuid, "patron_id": uuid,
                "hold_id": {"type": ["string", "null"], "format": "uuid", "description": "The hold this loan fulfilled (a copy held for the same patron)"},
                "loaned_at": {"type": ["string", "null"], "format": "date-time", "description": "Set by the server"},
                "due_at": {"type": ["string", "null"], "format": "date-time", "description": "Set by the server: its loan period after loaned_at"},
                "returned_at": {"type": ["string", "null"], "format": "date-time", "description": "Set by the server on check-in"},
                "status": {"type": "string", "enum": ["on_loan", "returned"], "description": "`on_loan` when absent on a check-out; `returned` by a PUT with If-Match checks the copy in"}}},
            "Escalation": {"type": "object", "required": ["id", "patron_id", "book_id", "hold_request_id", "status", "created_at"], "properties": {
                "id": uuid, "patron_id": uuid, "book_id": uuid, "hold_request_id": uuid,
                "status": {"type": "string", "enum": ["open", "reassigned", "purchase_flagged", "resolved"]},
                "resolution_note": {"type": ["string", "null"]}, "created_at": {"type": "string", "format": "date-time"}}},
            "EscalationDetail": {"allOf": [{"$ref": "#/components/schemas/Escalation"}, {"type": "object", "properties": {
                "patron": {"$ref": "#/components/schemas/Patron"}, "book": {"$ref": "#/components/schemas/Book"},
                "active_holds": {"type": "array", "items": {"type": "object", "properties": {
                    "hold": {"$ref": "#/components/schemas/Hold"}, "hold_etag": {"type": "string"},
                    "holder": {"type": ["object", "null"]}, "premium": {"type": "boolean"},
                    "copy": {"type": ["object", "null"]}, "branch": {"type": ["string", "null"]},
                    "since": {"type": ["string", "null"], "format": "date-time"}}}},
                "purchase_requests": {"type": "array", "items": {"$ref": "#/components/schemas/PurchaseRequest"}}}}]},
            "PurchaseRequest": {"type": "object", "required": ["id", "book_id", "isbn", "requested_by", "quantity", "status"], "properties": {
                "id": uuid, "book_id": uuid, "isbn": {"type": "string"}, "escalation_id": {"type": ["string", "null"], "format": "uuid"},
                "requested_by": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}, "note": {"type": "string"},
                "status": {"type": "string", "enum": ["requested", "ordered", "received", "cancelled"]}}},
            "SessionRequest": {"type": "object", "required": ["username", "password"], "properties": {
                "username": {"type": "string"}, "password": {"type": "string"}}},
            "SessionResponse": {"type": "object", "required": ["token", "user"], "properties": {
                "token": {"type": "string"},
                "user": {"type": "object", "required": ["id", "name", "role"], "properties": {
                    "id": uuid, "name": {"type": "string"}, "role": {"type": "string", "enum": ["librarian", "manager"]}}}}},
            "Change": {"type": "object", "required": ["seq", "type", "id", "etag", "deleted"], "properties": {
                "seq": {"type": "integer"},
                "type": {"type": "string", "enum": ["book", "copy", "patron", "hold", "escalation", "purchase_request", "loan"]},
                "id": uuid, "etag": {"type": "string", "description": "The record's ETag, as in its ETag header"},
                "deleted": {"type": "boolean"}, "data": {"type": "object", "description": "The record; absent when deleted"}}},
            "ChangeFeed": {"type": "object", "required": ["changes", "last_seq", "more"], "properties": {
                "changes": {"type": "array", "items": {"$ref": "#/components/schemas/Change"}},
                "last_seq": {"type": "integer"}, "more": {"type": "boolean"}}},
            "ContestEntry": {"type": "object", "required": ["hold_id", "patron_id", "patron_premium", "at", "outcome"], "properties": {
                "hold_id": uuid, "patron_id": uuid, "patron_premium": {"type": "boolean"},
                "at": {"type": "string", "format": "date-time"},
                "outcome": {"type": "string", "enum": ["won", "lost", "reassigned"]},
                "copy_id": {"type": "string", "format": "uuid", "description": "won, reassigned: the copy"},
                "escalation_id": {"type": ["string", "null"], "format": "uuid", "description": "lost: the escalation opened for a premium patron"},
                "from_hold_id": {"type": "string", "format": "uuid", "description": "reassigned: the hold the copy was taken from"},
                "to_hold_id": {"type": "string", "format": "uuid", "description": "reassigned: the premium patron's new hold"},
                "by": {"type": "string", "description": "reassigned: the manager"},
                "note": {"type": "string", "description": "reassigned: the manager's note"}}},
            "Revision": {"type": "object", "required": ["version", "etag", "deleted", "by", "at"], "properties": {
                "version": {"type": "integer"}, "etag": {"type": "string"}, "deleted": {"type": "boolean"},
                "data": {"type": ["object", "null"], "description": "The record as written; null for a deletion"},
                "by": {"type": "object", "required": ["id", "name"], "description": "The user whose session made the write", "properties": {
                    "id": {"type": ["string", "null"], "format": "uuid", "description": "The user's id; null when the name is no user's (the demo data's `demo`)"},
                    "name": {"type": "string"}}},
                "at": {"type": "string", "format": "date-time"}}},
            "Problem": {"type": "object", "required": ["type", "title", "status", "detail"], "properties": {
                "type": {"type": "string", "enum": [
                    "/problems/validation", "/problems/unauthorized", "/problems/forbidden", "/problems/not-found",
                    "/problems/method-not-allowed", "/problems/edit-conflict", "/problems/duplicate",
                    "/problems/hold-unavailable", "/problems/copy-unavailable", "/problems/precondition-failed", "/problems/payload-too-large",
                    "/problems/precondition-required", "/problems/internal", "/problems/in-use",
                    "/problems/too-many-attempts", "/problems/overloaded", "/problems/not-ready"]},
                "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "object", "required": ["field", "message"], "properties": {
                    "field": {"type": "string"}, "message": {"type": "string"}}}}}},
            "EditConflictProblem": {"allOf": [{"$ref": "#/components/schemas/Problem"}, {"type": "object",
                "required": ["current", "current_etag", "base", "base_etag"], "properties": {
                "current": {"type": ["object", "null"], "description": "null: the record was deleted meanwhile"}, "current_etag": {"type": "string"},
                "base": {"type": ["object", "null"]}, "base_etag": {"type": ["string", "null"]}}}]},
            "HoldUnavailableProblem": {"allOf": [{"$ref": "#/components/schemas/Problem"}, {"type": "object",
                "required": ["book_id", "patron_premium"], "properties": {"book_id": uuid,
                "patron_premium": {"type": "boolean"}, "escalation_id": {"type": "string", "format": "uuid",
                "description": "Only for a premium patron: the escalation opened for the manager"}}}]},
            "CopyUnavailableProblem": {"allOf": [{"$ref": "#/components/schemas/Problem"}, {"type": "object",
                "required": ["copy"], "properties": {"copy": {"$ref": "#/components/schemas/Copy"}}}]},
            "DuplicateProblem": {"allOf": [{"$ref": "#/components/schemas/Problem"}, {"type": "object",
                "required": ["existing_id"], "properties": {"existing_id": uuid}}]}
        }
    });
    // The v1.1 problems, added apart (one `json!` of every schema is past its recursion limit).
    components["schemas"]["InUseProblem"] = json!({"allOf": [{"$ref": "#/components/schemas/Problem"}, {"type": "object",
                "required": ["dependents"], "properties": {"dependents": {"type": "array",
                "description": "For each kind of record that still depends on this one: how many, and the first (up to 20) ids",
                "items": {"type": "object", "required": ["type", "count", "ids"], "properties": {
                    "type": {"type": "string", "enum": ["copy", "hold", "loan", "escalation"]},
                    "count": {"type": "integer", "minimum": 1},
                    "ids": {"type": "array", "maxItems": 20, "items": uuid}}}}}}]});
    components["schemas"]["RetryProblem"] = json!({"allOf": [{"$ref": "#/components/schemas/Problem"}, {"type": "object",
                "properties": {"retry_after": {"type": "integer", "minimum": 0, "description": "As the Retry-After header"}}}]});
    components
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for (method, path) in ROUTES {
        let item = paths
            .entry(path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(method.to_lowercase(), operation(method, path));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Shelfmark library server",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The sync protocol between the Shelfmark desktop app and the library server (PROTOCOL.md, v1.1)."
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": components()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_an_operation_with_responses() {
        let doc = document();
        for (method, path) in ROUTES {
            let op = &doc["paths"][path][method.to_lowercase()];
            assert!(op["responses"].is_object(), "{method} {path}");
            assert!(op["summary"].is_string(), "{method} {path}");
        }
    }
}
