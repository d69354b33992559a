//! API: an owner's preferences (`GET`/`PUT /users/preferences`).

use crate::api_support::{As, account, app, create_key, send};
use actix_web::http::{Method, StatusCode};
use serde_json::{Value, json};

const PATH: &str = "/api/v1/users/preferences";

fn defaults() -> Value {
    json!({
        "email_notifications": true,
        "marketing_emails": false,
        "security_alerts": true,
        "weekly_reports": false,
        "theme": "auto",
        "language": "en",
    })
}

#[actix_web::test]
async fn preferences_default_until_saved_and_round_trip() {
    let (_db, app) = app().await;
    let owner = account(&app, "owner@example.org").await;
    let r = send(&app, Method::GET, PATH, &owner.without_csrf(), None).await;
    assert_eq!((r.status, &r.body), (StatusCode::OK, &defaults()));

    let wanted = json!({
        "email_notifications": false,
        "marketing_emails": true,
        "security_alerts": false,
        "weekly_reports": true,
        "theme": "dark",
        "language": "fr",
    });
    let put = send(&app, Method::PUT, PATH, &owner.with_csrf(), Some(wanted.clone())).await;
    assert_eq!((put.status, &put.body), (StatusCode::OK, &wanted));
    let get = send(&app, Method::GET, PATH, &owner.without_csrf(), None).await;
    assert_eq!(get.body, wanted);

    // A partial update changes only what it names; tags are stored in their canonical case.
    let partial =
        send(&app, Method::PUT, PATH, &owner.with_csrf(), Some(json!({"theme": "light", "language": "pt-br"}))).await;
    assert_eq!(partial.status, StatusCode::OK, "{:?}", partial.body);
    let mut expected = wanted.clone();
    expected["theme"] = json!("light");
    expected["language"] = json!("pt-BR");
    assert_eq!(send(&app, Method::GET, PATH, &owner.without_csrf(), None).await.body, expected);
}

#[actix_web::test]
async fn preferences_invalid_values_are_refused_and_change_nothing() {
    let (_db, app) = app().await;
    let owner = account(&app, "owner@example.org").await;
    let bad = [
        json!({"theme": "blue"}),
        json!({"language": "xx"}),
        json!({"language": "en-us-x-private-and-long"}),
        json!({"security_alerts": "no"}),
        json!({"weekly_reports": null, "sound": true}),
        json!({"theme": "dark", "language": "klingon"}),
    ];
    for body in bad {
        let r = send(&app, Method::PUT, PATH, &owner.with_csrf(), Some(body.clone())).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_input"), "{body}: {:?}", r.body);
    }
    let get = send(&app, Method::GET, PATH, &owner.without_csrf(), None).await;
    assert_eq!(get.body, defaults());
}

#[actix_web::test]
async fn preferences_belong_to_their_owner_and_need_a_writer() {
    let (_db, app) = app().await;
    let owner = account(&app, "owner@example.org").await;
    let other = account(&app, "other@example.org").await;
    let r = send(&app, Method::PUT, PATH, &owner.with_csrf(), Some(json!({"theme": "dark"}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(send(&app, Method::GET, PATH, &other.without_csrf(), None).await.body, defaults());

    let nobody = send(&app, Method::GET, PATH, &As::Nobody, None).await;
    assert_eq!((nobody.status, nobody.code()), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let no_csrf = send(&app, Method::PUT, PATH, &owner.without_csrf(), Some(json!({"theme": "light"}))).await;
    assert_eq!((no_csrf.status, no_csrf.code()), (StatusCode::FORBIDDEN, "forbidden"));
    let read_key = create_key(&app, &owner.with_csrf(), "read").await;
    let key = As::Key(read_key["key"].as_str().unwrap().to_owned());
    assert_eq!(send(&app, Method::GET, PATH, &key, None).await.body["theme"], "dark");
    let read_only = send(&app, Method::PUT, PATH, &key, Some(json!({"theme": "light"}))).await;
    assert_eq!((read_only.status, read_only.code()), (StatusCode::FORBIDDEN, "forbidden"));
    assert_eq!(send(&app, Method::GET, PATH, &owner.without_csrf(), None).await.body["theme"], "dark");
}
