//! API: ownership. Every route in `ROUTES` that takes an `{id}`, called by one owner with
//! another owner's id, answers 404 (as for an id that does not exist) and leaves the row as it
//! was; every caller-scoped read shows a caller none of another owner's data. The routes are
//! taken from `ROUTES`, so a new one is covered (or fails loudly) without editing this file.

use crate::api_support::{ApiApp, As, Login, PASSWORD, Reply, account, call, call_raw, create_key, request, send};
use actix_web::http::{Method, StatusCode, header};
use serde_json::{Value, json};
use smtpy_admin::api::{PREFIX, ROUTES};
use smtpy_e2e::TestDb;
use uuid::Uuid;

const ALICE: &str = "alice@example.org";
const BOB: &str = "bob@example.org";
/// Where Alice's requests come from: it lands in her sessions and activity log, and must never
/// appear in anything Bob reads.
const ALICE_IP: &str = "198.51.100.77";
const ALICE_UA: &str = "AliceBrowser/1.0 (ownership matrix)";
/// GET routes that are not about a caller (no credential needed).
const PUBLIC_GETS: &[&str] = &["/openapi.json"];

fn method(name: &str) -> Method {
    Method::from_bytes(name.to_uppercase().as_bytes()).unwrap()
}

/// A request as Alice's browser sends it.
async fn as_alice<S: ApiApp>(app: &S, method: Method, path: &str, who: &As, body: Option<Value>) -> Reply {
    let req = request(method, &format!("{PREFIX}{path}"), who, body)
        .peer_addr(crate::api_support::peer(ALICE_IP))
        .insert_header((header::USER_AGENT, ALICE_UA));
    call(app, req).await
}

async fn alice_login<S: ApiApp>(app: &S) -> Login {
    let body = json!({"email": ALICE, "password": PASSWORD});
    crate::api_support::session_of(as_alice(app, Method::POST, "/auth/login", &As::Nobody, Some(body)).await)
}

/// The ids of `who`'s items in the list at `path`.
async fn ids<S: ApiApp>(app: &S, path: &str, who: &As) -> Vec<String> {
    let r = send(app, Method::GET, &format!("{PREFIX}{path}?per_page=100"), who, None).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
    r.body["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
}

/// The whole row `id` of `table`, as JSON, to compare before and after.
async fn row(db: &TestDb, table: &str, id: &str) -> Value {
    let client = db.client().await.unwrap();
    let sql = format!("SELECT to_jsonb(t)::text FROM {table} t WHERE id = $1::text::uuid");
    let text: String = client.query_one(&sql, &[&id]).await.unwrap().get(0);
    serde_json::from_str(&text).unwrap()
}

/// Two owners. Alice has keys, several sessions, preferences and activity; Bob has his own.
struct Owners {
    alice: Login,
    /// Alice's `full` key, to show her keys still work.
    alice_key: As,
    /// A key of Alice's that only Bob's requests aim at.
    alice_target_key: String,
    /// A session of Alice's that only Bob's requests aim at.
    alice_target_session: Login,
    bob: Login,
    bob_key: As,
}

async fn owners<S: ApiApp>(app: &S) -> Owners {
    crate::api_support::register(app, ALICE).await;
    let alice = alice_login(app).await;
    let alice_target_session = alice_login(app).await;
    let make_key = async |name: &str| {
        let body = json!({"name": name, "scope": "full"});
        let r = as_alice(app, Method::POST, "/users/api-keys", &alice.with_csrf(), Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body
    };
    let alice_key = As::Key(make_key("alice-everyday-key").await["key"].as_str().unwrap().to_owned());
    let alice_target_key = make_key("alice-target-key").await["id"].as_str().unwrap().to_owned();
    let prefs = json!({"theme": "dark", "language": "fr", "marketing_emails": true, "security_alerts": false});
    let r = as_alice(app, Method::PUT, "/users/preferences", &alice.with_csrf(), Some(prefs)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let bob = account(app, BOB).await;
    let bob_key = As::Key(create_key(app, &bob.with_csrf(), "full").await["key"].as_str().unwrap().to_owned());
    Owners { alice, alice_key, alice_target_key, alice_target_session, bob, bob_key }
}

#[actix_web::test]
async fn api_ownership_matrix_id_routes_answer_404_for_another_owners_id() {
    let (db, app) = crate::api_support::app().await;
    let o = owners(&app).await;
    let alice_session_id = current_session_id(&app, &o.alice_target_session).await;
    let id_routes: Vec<&(&str, &str)> = ROUTES.iter().filter(|(_, path)| path.contains("{id}")).collect();
    assert!(!id_routes.is_empty(), "ROUTES has no {{id}} route: the matrix would test nothing");

    for (method_name, path) in id_routes {
        // Each route: Alice's id, the table it lives in, and the column her own call sets.
        let (id, table, column) = match (*method_name, *path) {
            ("delete", "/users/api-keys/{id}") => (o.alice_target_key.clone(), "api_keys", "revoked_at"),
            ("delete", "/users/sessions/{id}") => (alice_session_id.clone(), "sessions", "revoked_at"),
            (m, p) => panic!(
                "{m} {p} takes an {{id}} and the ownership matrix does not know how to set one up: \
                 add a case to api_ownership_matrix.rs"
            ),
        };
        let what = format!("{method_name} {path}");
        let before = row(&db, table, &id).await;
        let unknown = send(
            &app,
            method(method_name),
            &format!("{PREFIX}{}", path.replace("{id}", &Uuid::new_v4().to_string())),
            &o.bob.with_csrf(),
            None,
        )
        .await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{what} with an unknown id: {:?}", unknown.body);
        for (credential, bob) in [("session", o.bob.with_csrf()), ("API key", o.bob_key.clone())] {
            let r =
                send(&app, method(method_name), &format!("{PREFIX}{}", path.replace("{id}", &id)), &bob, None).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{what} by Bob's {credential}: {:?}", r.body);
            assert_eq!(r.code(), "not_found", "{what} by Bob's {credential}");
            assert_eq!(r.body, unknown.body, "{what}: Alice's id must look like one that does not exist");
        }
        assert_eq!(row(&db, table, &id).await, before, "{what}: Alice's row changed");

        // Alice still lists it (the session lists itself, so it still works), and can herself
        // do what Bob could not: the 404 above was about ownership, not a broken request.
        match table {
            "api_keys" => {
                assert!(ids(&app, "/users/api-keys", &o.alice.without_csrf()).await.contains(&id), "{what}");
            }
            "sessions" => {
                let who = o.alice_target_session.without_csrf();
                assert!(ids(&app, "/users/sessions", &who).await.contains(&id), "{what}");
            }
            _ => unreachable!(),
        }
        let path = format!("{PREFIX}{}", path.replace("{id}", &id));
        let own = send(&app, method(method_name), &path, &o.alice.with_csrf(), None).await;
        assert!(own.status.is_success(), "{what} by Alice herself: {} {:?}", own.status, own.body);
        assert!(before[column].is_null(), "{what}: {before}");
        let after = row(&db, table, &id).await;
        assert!(!after[column].is_null(), "{what}: Alice's own request did not set {column}: {after}");
    }
    // Alice's everyday key was never a target and still works.
    let me = send(&app, Method::GET, &format!("{PREFIX}/users/me"), &o.alice_key, None).await;
    assert_eq!((me.status, me.body["email"].as_str()), (StatusCode::OK, Some(ALICE)));
}

async fn current_session_id<S: ApiApp>(app: &S, session: &Login) -> String {
    let r = send(app, Method::GET, &format!("{PREFIX}/users/sessions"), &session.without_csrf(), None).await;
    let items = r.body["items"].as_array().unwrap();
    items.iter().find(|s| s["current"] == true).unwrap()["id"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn api_ownership_matrix_reads_show_no_other_owners_data() {
    let (_db, app) = crate::api_support::app().await;
    let o = owners(&app).await;

    // Everything that identifies Alice's data.
    let alice_reader = o.alice.without_csrf();
    let mut markers = vec![ALICE.to_owned(), ALICE_IP.to_owned(), ALICE_UA.to_owned()];
    markers.push(o.alice.body["user"]["id"].as_str().unwrap().to_owned());
    let keys = send(&app, Method::GET, &format!("{PREFIX}/users/api-keys"), &alice_reader, None).await;
    for key in keys.body["items"].as_array().unwrap() {
        for field in ["id", "name", "prefix"] {
            markers.push(key[field].as_str().unwrap().to_owned());
        }
    }
    markers.extend(ids(&app, "/users/sessions", &alice_reader).await);
    markers.extend(ids(&app, "/activity-logs", &alice_reader).await);
    assert!(markers.len() > 10, "{markers:?}");

    let gets: Vec<&str> = ROUTES
        .iter()
        .filter(|(m, p)| *m == "get" && !p.contains("{id}") && !PUBLIC_GETS.contains(p))
        .map(|(_, p)| *p)
        .collect();
    assert!(gets.len() >= 6, "{gets:?}");
    for path in &gets {
        for (credential, bob) in [("session", o.bob.without_csrf()), ("API key", o.bob_key.clone())] {
            let r = call_raw(&app, request(Method::GET, &format!("{PREFIX}{path}"), &bob, None)).await;
            assert_eq!(r.status, StatusCode::OK, "GET {path} by Bob's {credential}: {}", r.body);
            for marker in &markers {
                assert!(
                    !r.body.contains(marker.as_str()),
                    "GET {path} by Bob's {credential} shows {marker}: {}",
                    r.body
                );
            }
        }
    }

    // And what each caller-scoped read does show is Bob's own.
    let bob = o.bob.without_csrf();
    let me = send(&app, Method::GET, &format!("{PREFIX}/users/me"), &bob, None).await;
    assert_eq!((me.body["email"].as_str(), &me.body["id"]), (Some(BOB), &o.bob.body["user"]["id"]));
    let bob_keys = ids(&app, "/users/api-keys", &bob).await;
    assert_eq!(bob_keys.len(), 1, "only the key Bob made: {bob_keys:?}");
    let bob_sessions = ids(&app, "/users/sessions", &bob).await;
    assert_eq!(bob_sessions, [current_session_id(&app, &o.bob).await]);
    let r = send(&app, Method::GET, &format!("{PREFIX}/activity-logs?per_page=100"), &bob, None).await;
    let actions: Vec<&str> =
        r.body["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["api_key_created", "login_succeeded"]);
    let bob_prefs = send(&app, Method::GET, &format!("{PREFIX}/users/preferences"), &bob, None).await;
    let alice_prefs = send(&app, Method::GET, &format!("{PREFIX}/users/preferences"), &alice_reader, None).await;
    assert_eq!((&alice_prefs.body["theme"], &alice_prefs.body["language"]), (&json!("dark"), &json!("fr")));
    assert_eq!(
        bob_prefs.body,
        json!({"email_notifications": true, "marketing_emails": false, "security_alerts": true,
               "weekly_reports": false, "theme": "auto", "language": "en"}),
        "Bob has the defaults, not Alice's choices"
    );
    // Bob changing his preferences leaves Alice's as they were.
    let r = send(
        &app,
        Method::PUT,
        &format!("{PREFIX}/users/preferences"),
        &o.bob.with_csrf(),
        Some(json!({"theme": "light"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let again = send(&app, Method::GET, &format!("{PREFIX}/users/preferences"), &alice_reader, None).await;
    assert_eq!(again.body, alice_prefs.body);
}
