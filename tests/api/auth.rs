//! Accounts and sessions: sign-up, sign-in, tokens, sign-out, the admin role,
//! rate limits, and the session keys as Redis holds them.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine;
use emporium::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{
    SEED_ADMIN_EMAIL, SEED_ADMIN_PASSWORD, SEED_CUSTOMER_EMAIL, TEST_PASSWORD, TestApp, redis_url,
};

const JWT_SECRET: &str = "test-secret-that-is-long-enough-for-hs256";

async fn sign_up(app: &TestApp, body: Value) -> crate::helpers::TestResponse {
    app.client(None)
        .send_json(Method::POST, "/api/auth/signup", body)
        .await
}

async fn sign_in_raw(app: &TestApp, email: &str, password: &str) -> crate::helpers::TestResponse {
    app.client(None)
        .send_json(
            Method::POST,
            "/api/auth/signin",
            json!({"email": email, "password": password}),
        )
        .await
}

async fn me(app: &TestApp, token: &str) -> crate::helpers::TestResponse {
    app.client(Some(token))
        .request(Method::GET, "/api/auth/me")
        .await
}

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Claims of a token, read without checking it (the test is the issuer's peer).
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// An HS256 token signed with the test secret, for claims the server would never issue.
fn sign(claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn signup_creates_a_customer_and_never_shows_the_hash() {
    let app = TestApp::spawn().await;
    let response = sign_up(
        &app,
        json!({"email": " Ada@Example.com ", "password": "correct horse", "name": " Ada "}),
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let user = &response.json()["data"];
    assert_eq!(user["email"], "Ada@Example.com");
    assert_eq!(user["name"], "Ada");
    assert_eq!(user["role"], "customer");
    assert!(user["id"].as_i64().unwrap() > 0 && user["created_at"].is_string());
    assert!(!response.text().contains("argon2") && user.get("password_hash").is_none());
    let token = app.sign_in("ada@example.COM", "correct horse").await;
    assert_eq!(
        me(&app, &token).await.json()["data"]["email"],
        "Ada@Example.com"
    );
}

#[tokio::test]
async fn signup_refuses_invalid_fields_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let long_email = format!("{}@example.com", "a".repeat(250));
    let cases = [
        (
            json!({"email": "not-an-address", "password": "long enough", "name": "A"}),
            "email",
        ),
        (
            json!({"email": "a@b@c.com", "password": "long enough", "name": "A"}),
            "email",
        ),
        (
            json!({"email": long_email, "password": "long enough", "name": "A"}),
            "email",
        ),
        (
            json!({"email": "a@example.com", "password": "short", "name": "A"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": "x".repeat(129), "name": "A"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": "long enough", "name": "  "}),
            "name",
        ),
        (
            json!({"email": "a@example.com", "password": "long enough", "name": "x".repeat(256)}),
            "name",
        ),
        (
            json!({"email": "a@example.com", "password": "long enough", "name": "a\u{7}b"}),
            "name",
        ),
        (
            json!({"email": "a@example.com", "password": "long enough"}),
            "name",
        ),
        (
            json!({"email": "a@example.com", "password": 12345678, "name": "A"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": "long enough", "name": "A", "role": "admin"}),
            "role",
        ),
    ];
    for (body, field) in cases {
        sign_up(&app, body).await.field_error(field);
    }
    let malformed = app
        .anon()
        .send(
            Method::POST,
            "/api/auth/signup",
            Some(Body::from("{\"email\": ")),
            &[("content-type", "application/json")],
        )
        .await;
    malformed.problem(400);
    assert_eq!(app.count("users").await, 0);
}

#[tokio::test]
async fn signup_refuses_an_email_taken_in_another_case() {
    let app = TestApp::spawn().await;
    let body = json!({"email": "bob@example.com", "password": "long enough", "name": "Bob"});
    assert_eq!(sign_up(&app, body).await.status, StatusCode::CREATED);
    let again = json!({"email": "BOB@Example.COM", "password": "another one", "name": "Bobby"});
    let response = sign_up(&app, again).await;
    assert!(
        response.problem(409)["detail"]
            .as_str()
            .unwrap()
            .contains("email")
    );
    assert_eq!(app.count("users").await, 1);
}

#[tokio::test]
async fn signin_answers_one_401_for_a_wrong_password_and_an_unknown_email() {
    let app = TestApp::spawn().await;
    let token = app
        .new_account_token("carol@example.com", Role::Customer)
        .await;
    let session = claims_of(&token);
    assert_eq!(session["role"], "customer");
    assert!(session["jti"].is_string() && session["iat"].is_i64());
    assert_eq!(
        session["exp"].as_i64().unwrap() - session["iat"].as_i64().unwrap(),
        3600
    );

    let response = sign_in_raw(&app, "carol@example.com", TEST_PASSWORD).await;
    let data = &response.json()["data"];
    assert_eq!(data["token_type"], "Bearer");
    assert_eq!(data["user"]["email"], "carol@example.com");
    assert!(data["expires_at"].as_str().unwrap().ends_with('Z'));

    let wrong = sign_in_raw(&app, "carol@example.com", "wrong password")
        .await
        .problem(401);
    let unknown = sign_in_raw(&app, "nobody@example.com", TEST_PASSWORD)
        .await
        .problem(401);
    assert_eq!(wrong, unknown);
    // A password too long to be anyone's, and hostile-looking input, are the same 401.
    let huge = sign_in_raw(&app, "carol@example.com", &"x".repeat(10_000))
        .await
        .problem(401);
    assert_eq!(huge, wrong);
    let hostile = sign_in_raw(&app, "' OR 1=1 --@example.com", "' OR ''='")
        .await
        .problem(401);
    assert_eq!(hostile, wrong);
    sign_in_raw(&app, "", "").await.problem(401);
}

#[tokio::test]
async fn me_needs_a_well_formed_bearer_token() {
    let app = TestApp::spawn().await;
    let token = app
        .new_account_token("dan@example.com", Role::Customer)
        .await;
    assert_eq!(
        me(&app, &token).await.json()["data"]["email"],
        "dan@example.com"
    );

    let none = app.client(None).request(Method::GET, "/api/auth/me").await;
    none.problem(401);
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    for authorization in [
        format!("Basic {token}"),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer not.a.token".to_owned(),
        "Bearer \u{0}".to_owned().replace('\u{0}', "%00"),
        format!("Bearer {token}x"),
    ] {
        let response = app
            .anon()
            .send(
                Method::GET,
                "/api/auth/me",
                None,
                &[("authorization", &authorization)],
            )
            .await;
        response.problem(401);
    }
}

#[tokio::test]
async fn tampered_none_and_expired_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let token = app
        .new_account_token("erin@example.com", Role::Customer)
        .await;
    let mut claims = claims_of(&token);
    let parts: Vec<&str> = token.split('.').collect();

    // A payload promoted to admin under the original signature.
    claims["role"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(claims.to_string().as_bytes()),
        parts[2]
    );
    me(&app, &tampered).await.problem(401);

    // The same payload, unsigned, claiming `alg: none`.
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    me(&app, &unsigned).await.problem(401);

    // Correctly signed, session key present, but past its `exp`.
    claims["role"] = json!("customer");
    claims["exp"] = json!(chrono::Utc::now().timestamp() - 5);
    let expired = sign(&claims);
    me(&app, &expired).await.problem(401);

    // Correctly signed and unexpired, but with no session behind it.
    claims["exp"] = json!(chrono::Utc::now().timestamp() + 600);
    claims["jti"] = json!("made-up-session");
    me(&app, &sign(&claims)).await.problem(401);

    // The real token still works.
    assert_eq!(me(&app, &token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn signout_kills_that_token_only() {
    let app = TestApp::spawn().await;
    let phone = app
        .new_account_token("fay@example.com", Role::Customer)
        .await;
    let laptop = app.sign_in("fay@example.com", TEST_PASSWORD).await;
    assert_ne!(claims_of(&phone)["jti"], claims_of(&laptop)["jti"]);

    let out = app
        .client(Some(&phone))
        .request(Method::POST, "/api/auth/signout")
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    me(&app, &phone).await.problem(401);
    app.client(Some(&phone))
        .request(Method::POST, "/api/auth/signout")
        .await
        .problem(401);
    assert_eq!(me(&app, &laptop).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_token_of_a_deleted_user_is_refused() {
    use diesel_async::RunQueryDsl;
    let app = TestApp::spawn().await;
    let token = app.new_account_token("gus@example.com", Role::Admin).await;
    assert_eq!(me(&app, &token).await.status, StatusCode::OK);
    let mut conn = app.db().await;
    diesel::sql_query("DELETE FROM users WHERE email = 'gus@example.com'")
        .execute(&mut conn)
        .await
        .unwrap();
    me(&app, &token).await.problem(401);
    app.client(Some(&token))
        .send_json(Method::POST, "/api/tags", json!({"tag_name": "x"}))
        .await
        .problem(401);
}

#[tokio::test]
async fn the_token_of_a_deleted_user_names_no_later_account_given_its_id() {
    let app = TestApp::spawn().await;
    let (id, token) = app.quick_account("gus@example.com", Role::Customer).await;
    // The database made anew (or restored from an older backup) while the
    // sessions' Redis still holds gus's session: the id goes to an admin.
    app.sql(&format!(
        "DELETE FROM users WHERE id = {id}; SELECT setval('users_id_seq', {id}, false);"
    ))
    .await;
    let (reused, admin_token) = app.quick_account("ava@example.com", Role::Admin).await;
    assert_eq!(reused, id);
    // Its sessions list shows its own session alone, even before gus's
    // token is ever presented again.
    let listed = app.user(&admin_token).get("/api/auth/sessions").await;
    assert_eq!(
        listed.json()["data"].as_array().unwrap().len(),
        1,
        "{}",
        listed.text()
    );
    me(&app, &token).await.problem(401);
    app.client(Some(&token))
        .send_json(Method::POST, "/api/tags", json!({"tag_name": "x"}))
        .await
        .problem(401);
    // The new account's own token is its own, and its sessions list shows
    // its own session alone.
    let mine = me(&app, &admin_token).await;
    assert_eq!(mine.status, StatusCode::OK);
    assert_eq!(mine.json()["data"]["email"], "ava@example.com");
    let listed = app.user(&admin_token).get("/api/auth/sessions").await;
    assert_eq!(
        listed.json()["data"].as_array().unwrap().len(),
        1,
        "{}",
        listed.text()
    );
}

#[tokio::test]
async fn catalog_writes_need_an_admin() {
    let app = TestApp::seeded().await;
    let customer = app
        .new_account_token("hal@example.com", Role::Customer)
        .await;
    let admin = app.new_account_token("ida@example.com", Role::Admin).await;
    let writes = [
        (
            Method::POST,
            "/api/categories",
            json!({"category_name": "Socks"}),
        ),
        (
            Method::PUT,
            "/api/categories/1",
            json!({"category_name": "Tees"}),
        ),
        (Method::DELETE, "/api/categories/1", json!({})),
        (Method::POST, "/api/tags", json!({"tag_name": "wool"})),
        (Method::PUT, "/api/tags/1", json!({"tag_name": "metal"})),
        (Method::DELETE, "/api/tags/1", json!({})),
        (
            Method::POST,
            "/api/products",
            json!({"product_name": "Sock", "price": 1, "stock": 1}),
        ),
        (Method::PUT, "/api/products/1", json!({"price": 0})),
        (Method::DELETE, "/api/products/1", json!({})),
    ];
    for (method, path, body) in &writes {
        // Without a token, or with a customer's, nothing happens; an invalid
        // body does not get past the door either.
        app.client(None)
            .send_json(method.clone(), path, body.clone())
            .await
            .problem(401);
        app.client(Some(&customer))
            .send_json(method.clone(), path, body.clone())
            .await
            .problem(403);
        app.client(Some(&customer))
            .send_json(method.clone(), path, json!({"bogus": true}))
            .await
            .problem(403);
    }
    assert_eq!(app.count("categories").await, 5);
    assert_eq!(app.count("tags").await, 8);
    assert_eq!(app.count("products").await, 5);
    let product = app.anon().get("/api/products/1").await.json();
    assert_eq!(product["data"]["price"], "14.99");
    // Reads stay open to anyone; the admin's writes go through.
    for (method, path, body) in writes {
        let response = app.client(Some(&admin)).send_json(method, path, body).await;
        assert!(response.status.is_success(), "{path}: {}", response.text());
    }
}

#[tokio::test]
async fn sessions_are_redis_keys_that_live_as_long_as_their_token() {
    let app = TestApp::spawn().await;
    let first = app
        .new_account_token("jo@example.com", Role::Customer)
        .await;
    let second = app.sign_in("jo@example.com", TEST_PASSWORD).await;
    let user_id = claims_of(&first)["sub"].as_str().unwrap().to_owned();
    let mut conn = redis().await;
    let pattern = format!("{}user:token:{user_id}:*", app.redis_prefix);
    let mut keys = crate::helpers::redis_keys(&mut conn, &pattern).await;
    keys.sort();
    let mut expected: Vec<String> = [&first, &second]
        .iter()
        .map(|token| {
            format!(
                "{}user:token:{user_id}:{}",
                app.redis_prefix,
                claims_of(token)["jti"].as_str().unwrap()
            )
        })
        .collect();
    expected.sort();
    assert_eq!(keys, expected);
    let key = format!(
        "{}user:token:{user_id}:{}",
        app.redis_prefix,
        claims_of(&first)["jti"].as_str().unwrap()
    );
    let (value, ttl): (String, i64) = redis::pipe()
        .get(&key)
        .ttl(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(value, first);
    assert!((3590..=3600).contains(&ttl), "TTL {ttl}");

    app.client(Some(&first))
        .request(Method::POST, "/api/auth/signout")
        .await;
    let left = crate::helpers::redis_keys(&mut conn, &pattern).await;
    assert_eq!(left.len(), 1);
    assert!(left[0].ends_with(claims_of(&second)["jti"].as_str().unwrap()));
}

fn from_address(address: &str, path: &str, body: Value) -> Request<Body> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let socket: SocketAddr = format!("{address}:40000").parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(socket));
    request
}

#[tokio::test]
async fn signin_is_limited_per_email_and_the_limit_resets() {
    let app = TestApp::with_config(|config| {
        config.auth_rate_limit.per_email = 3;
        // Long enough for four argon2 sign-ins on a busy CI machine.
        config.auth_rate_limit.window = Duration::from_secs(6);
    })
    .await;
    app.new_account_token("kim@example.com", Role::Customer)
        .await; // attempt 1
    for _ in 0..2 {
        sign_in_raw(&app, "kim@example.com", "wrong password")
            .await
            .problem(401);
    }
    // Over the limit, even the right password (in another case) is turned away.
    let limited = sign_in_raw(&app, "KIM@example.com", TEST_PASSWORD).await;
    limited.problem(429);
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=6).contains(&retry_after), "Retry-After {retry_after}");
    // Other emails are not affected.
    sign_in_raw(&app, "someone@example.com", "whatever1")
        .await
        .problem(401);
    tokio::time::sleep(Duration::from_secs(retry_after) + Duration::from_millis(200)).await;
    let reset = sign_in_raw(&app, "kim@example.com", TEST_PASSWORD).await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text());
}

#[tokio::test]
async fn bodies_without_an_email_share_no_count_and_each_client_hears_its_422() {
    let app = TestApp::with_config(|config| config.auth_rate_limit.per_email = 2).await;
    // From five clients: counted by their addresses alone, never as one
    // email "" that every client's missing email would be. (A blank email
    // signs in nobody: a wrong pair, 401.)
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    for (n, (body, signin)) in [
        (json!({"password": "wrong-pass"}), unprocessable),
        (
            json!({"email": "  ", "password": "wrong-pass"}),
            StatusCode::UNAUTHORIZED,
        ),
        (
            json!({"email": null, "password": "wrong-pass"}),
            unprocessable,
        ),
        (json!({"password": "wrong-pass"}), unprocessable),
        (
            json!({"email": "", "password": "wrong-pass"}),
            StatusCode::UNAUTHORIZED,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let address = format!("10.0.1.{n}");
        for (path, expected) in [
            ("/api/auth/signin", signin),
            ("/api/auth/signup", unprocessable),
        ] {
            let response = app
                .anon()
                .send_request(from_address(&address, path, body.clone()))
                .await;
            assert_eq!(
                response.status,
                expected,
                "{path} {body}: {}",
                response.text()
            );
        }
    }
    // An email sent is still counted, from any address.
    for n in 0..2 {
        let body = json!({"email": "kim@example.com", "password": "wrong-pass"});
        app.anon()
            .send_request(from_address(
                &format!("10.0.2.{n}"),
                "/api/auth/signin",
                body,
            ))
            .await
            .problem(401);
    }
    let body = json!({"email": "kim@example.com", "password": "wrong-pass"});
    app.anon()
        .send_request(from_address("10.0.2.9", "/api/auth/signin", body))
        .await
        .problem(429);
}

#[tokio::test]
async fn only_signup_and_signin_are_rate_limited() {
    let app = TestApp::with_config(|config| {
        config.auth_rate_limit.per_email = 1;
        config.auth_rate_limit.per_address = 1;
    })
    .await;
    let (_, token) = app.quick_account("pat@example.com", Role::Customer).await;
    // Password changes, right or wrong, past both limits: never a 429.
    for _ in 0..3 {
        app.user(&token)
            .post(
                "/api/auth/password",
                json!({"current_password": "not it at all", "new_password": "a new long password"}),
            )
            .await
            .field_error("current_password");
    }
    let changed = app
        .user(&token)
        .post(
            "/api/auth/password",
            json!({"current_password": TEST_PASSWORD, "new_password": "a new long password"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text());
}

#[tokio::test]
async fn signup_and_signin_are_limited_per_client_address() {
    let app = TestApp::with_config(|config| config.auth_rate_limit.per_address = 4).await;
    for n in 0..4 {
        let body = json!({"email": format!("u{n}@example.com"), "password": "wrong-pass"});
        let response = app
            .anon()
            .send_request(from_address("10.0.0.1", "/api/auth/signin", body))
            .await;
        response.problem(401);
    }
    let body = json!({"email": "u9@example.com", "password": "wrong-pass"});
    app.anon()
        .send_request(from_address("10.0.0.1", "/api/auth/signin", body.clone()))
        .await
        .problem(429);
    // Another address still gets through; sign-up counts separately.
    app.anon()
        .send_request(from_address("10.0.0.2", "/api/auth/signin", body))
        .await
        .problem(401);
    let signup = json!({"email": "new@example.com", "password": "long enough", "name": "N"});
    let created = app
        .anon()
        .send_request(from_address("10.0.0.1", "/api/auth/signup", signup))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
}

#[tokio::test]
async fn without_redis_signin_and_signup_are_503_and_leave_nothing_behind() {
    let app = TestApp::with_config(|config| {
        config.redis_url = "redis://127.0.0.1:1".to_owned().into();
        config.redis_timeout = Duration::from_millis(200);
    })
    .await;
    // A bad body is its 422 all the same, on either route.
    sign_up(&app, json!({"email": "lee@example.com"}))
        .await
        .field_error("password");
    app.anon()
        .post("/api/auth/signin", json!({"email": "lee@example.com"}))
        .await
        .field_error("password");
    // Sign-up opens a session: without Redis it cannot, and no account is left half-made.
    let body = json!({"email": "lee@example.com", "password": "long enough", "name": "Lee"});
    let refused = sign_up(&app, body).await;
    refused.problem(503);
    assert!(refused.header("retry-after").is_some());
    assert_eq!(app.count("users").await, 0);
    // An account made without a session (as the seed makes them) still cannot sign in.
    let account = emporium::auth::domain::NewAccount::parse(
        "lee@example.com",
        "long enough".to_owned().into(),
        "Lee",
        Role::Customer,
    )
    .unwrap();
    let mut conn = app.state.db.get().await.unwrap();
    emporium::auth::service::create_account(&mut conn, &app.state.hasher, account)
        .await
        .unwrap();
    drop(conn);
    // Nor does a sign-up of its email tell that it exists (a 409): refused
    // before it is checked, as it could not open a session anyway.
    let body = json!({"email": "lee@example.com", "password": "long enough", "name": "Lee"});
    sign_up(&app, body).await.problem(503);
    let response = sign_in_raw(&app, "lee@example.com", "long enough").await;
    response.problem(503);
    assert!(response.header("retry-after").is_some());
    // Uncounted, a wrong password gets the same 503: no guess goes unlimited,
    // and none is told apart from the right one.
    for _ in 0..3 {
        sign_in_raw(&app, "lee@example.com", "not the password")
            .await
            .problem(503);
    }
    // A request with a token cannot be checked either: 503, not 401 or 500.
    let token = sign(&json!({"sub": "1", "jti": "x", "role": "admin", "iat": 0,
                             "exp": chrono::Utc::now().timestamp() + 600}));
    me(&app, &token).await.problem(503);
}

#[tokio::test]
async fn seed_creates_the_demo_accounts_once() {
    let app = TestApp::seeded().await;
    assert_eq!(app.count("users").await, 2);
    let hash_of = async |email: &str| -> String {
        #[derive(diesel::QueryableByName)]
        struct Hash {
            #[diesel(sql_type = diesel::sql_types::Text)]
            password_hash: String,
        }
        use diesel_async::RunQueryDsl;
        let mut conn = app.db().await;
        diesel::sql_query("SELECT password_hash FROM users WHERE email = $1")
            .bind::<diesel::sql_types::Text, _>(email)
            .get_result::<Hash>(&mut conn)
            .await
            .unwrap()
            .password_hash
    };
    let before = hash_of(SEED_ADMIN_EMAIL).await;
    app.seed().await;
    assert_eq!(app.count("users").await, 2);
    assert_eq!(hash_of(SEED_ADMIN_EMAIL).await, before);

    let admin = app.sign_in(SEED_ADMIN_EMAIL, SEED_ADMIN_PASSWORD).await;
    assert_eq!(me(&app, &admin).await.json()["data"]["role"], "admin");
    let created = app
        .client(Some(&admin))
        .send_json(Method::POST, "/api/tags", json!({"tag_name": "denim"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let customer = app
        .sign_in(SEED_CUSTOMER_EMAIL, crate::helpers::SEED_CUSTOMER_PASSWORD)
        .await;
    assert_eq!(me(&app, &customer).await.json()["data"]["role"], "customer");
}

#[tokio::test]
async fn create_admin_reads_the_password_from_stdin_and_refuses_a_taken_email() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let app = TestApp::spawn().await;
    let run = |email: &str, stdin_password: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_emporium"))
            .args(["create-admin", "--email", email, "--name", "Root"])
            .current_dir(std::env::temp_dir())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "DATABASE_URL",
                crate::helpers::database_url(&app.database_name),
            )
            .env("REDIS_URL", redis_url())
            .env("JWT_SECRET", JWT_SECRET)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{stdin_password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let first = tokio::task::spawn_blocking(move || ())
        .await
        .map(|()| run("ops@example.com", "a-strong-password"))
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let token = app.sign_in("ops@example.com", "a-strong-password").await;
    assert_eq!(me(&app, &token).await.json()["data"]["role"], "admin");

    let again = run("OPS@example.com", "another-password");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("email"));
    let bad = run("not-an-email", "a-strong-password");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("email"));
    let short = run("short@example.com", "short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("password"));
    assert_eq!(app.count("users").await, 1);
}

/// A sign-in as if through a proxy at `peer` that forwards for `forwarded`.
fn forwarded(peer: &str, forwarded: &str, body: Value) -> Request<Body> {
    let mut request = from_address(peer, "/api/auth/signin", body);
    request
        .headers_mut()
        .insert("x-forwarded-for", forwarded.parse().unwrap());
    request
}

/// An app behind a proxy at 127.0.0.1 that it trusts, two sign-in attempts
/// a client; and the `n`th attempt of a client (a wrong password for
/// `<letter><n>@example.com`).
async fn behind_a_trusted_proxy(letter: &'static str) -> (TestApp, impl Fn(u32) -> Value) {
    behind_a_trusted_proxy_with_site_limit(letter, None).await
}

/// [`behind_a_trusted_proxy`], with `per_site` attempts for all the /64s
/// of one IPv6 /48 together (`AUTH_RATE_LIMIT_PER_SITE`).
async fn behind_a_trusted_proxy_with_site_limit(
    letter: &'static str,
    per_site: Option<u32>,
) -> (TestApp, impl Fn(u32) -> Value) {
    let app = TestApp::with_config(|config| {
        config.auth_rate_limit.per_address = 2;
        config.auth_rate_limit.per_site = per_site;
        config.trusted_proxies = emporium::config::TrustedProxies::parse("127.0.0.1").unwrap();
    })
    .await;
    let attempt = move |n: u32| json!({"email": format!("{letter}{n}@example.com"), "password": "wrong-pass"});
    (app, attempt)
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_rate_limit_and_nobody_else_may_say_so() {
    let (app, attempt) = behind_a_trusted_proxy("p").await;
    // Two clients behind the proxy: each its own two attempts.
    for client in ["198.51.100.1", "198.51.100.2"] {
        for n in 0..2 {
            app.anon()
                .send_request(forwarded("127.0.0.1", client, attempt(n)))
                .await
                .problem(401);
        }
        app.anon()
            .send_request(forwarded("127.0.0.1", client, attempt(9)))
            .await
            .problem(429);
    }
    // A spoofed left-hand entry does not buy a new budget.
    app.anon()
        .send_request(forwarded("127.0.0.1", "6.6.6.6, 198.51.100.1", attempt(3)))
        .await
        .problem(429);
    // An untrusted peer's header is ignored: it is counted as itself.
    for n in 0..2 {
        app.anon()
            .send_request(forwarded(
                "203.0.113.5",
                &format!("192.0.2.{n}"),
                attempt(n),
            ))
            .await
            .problem(401);
    }
    app.anon()
        .send_request(forwarded("203.0.113.5", "192.0.2.77", attempt(7)))
        .await
        .problem(429);
}

#[tokio::test]
async fn a_client_whose_own_forwarded_entry_is_not_text_is_still_counted_as_itself() {
    let (app, attempt) = behind_a_trusted_proxy("b").await;
    // What the client sent, then what the proxy appended, in one header.
    for n in 0..2 {
        let mut request = forwarded("127.0.0.1", "198.51.100.7", attempt(n));
        request.headers_mut().insert(
            "x-forwarded-for",
            axum::http::HeaderValue::from_bytes(b"\xff\xfe, 198.51.100.7").unwrap(),
        );
        app.anon().send_request(request).await.problem(401);
    }
    // Counted as 198.51.100.7, not as the proxy: its third attempt is over.
    app.anon()
        .send_request(forwarded("127.0.0.1", "198.51.100.7", attempt(9)))
        .await
        .problem(429);
}

#[tokio::test]
async fn an_ipv6_client_is_limited_by_its_network_not_by_each_of_its_addresses() {
    let (app, attempt) = behind_a_trusted_proxy("v").await;
    // A subscriber's /64 holds more addresses than any limit: a new one for
    // each attempt buys nothing.
    for (n, client) in ["2001:db8:1:2::1", "2001:db8:1:2::2"].iter().enumerate() {
        app.anon()
            .send_request(forwarded("127.0.0.1", client, attempt(n as u32)))
            .await
            .problem(401);
    }
    app.anon()
        .send_request(forwarded("127.0.0.1", "2001:db8:1:2:ffff::3", attempt(9)))
        .await
        .problem(429);
    // The next network is another client.
    app.anon()
        .send_request(forwarded("127.0.0.1", "2001:db8:1:3::1", attempt(9)))
        .await
        .problem(401);
}

#[tokio::test]
async fn with_a_site_limit_the_networks_of_one_ipv6_site_share_it() {
    let (app, attempt) = behind_a_trusted_proxy_with_site_limit("w", Some(32)).await;
    // A routed /48 holds 65,536 /64s: each is limited on its own (two
    // attempts here), and all of them together to 32.
    for network in 0..16u32 {
        for n in 0..2 {
            let client = format!("2001:db8:7:{network:x}::1");
            app.anon()
                .send_request(forwarded("127.0.0.1", &client, attempt(2 * network + n)))
                .await
                .problem(401);
        }
    }
    let answer = app
        .anon()
        .send_request(forwarded("127.0.0.1", "2001:db8:7:99::1", attempt(99)))
        .await;
    answer.problem(429);
    assert!(answer.header("retry-after").is_some());
    // Another site is another client.
    app.anon()
        .send_request(forwarded("127.0.0.1", "2001:db8:8:99::1", attempt(99)))
        .await
        .problem(401);
}

/// API.md: at least the per-address limit from one address, whatever its
/// neighbours do; so by default (`AUTH_RATE_LIMIT_PER_SITE` unset) a /48
/// has no limit of its own.
#[tokio::test]
async fn without_a_site_limit_each_ipv6_network_keeps_its_attempts_however_many_its_site_made() {
    let (app, attempt) = behind_a_trusted_proxy("y").await;
    for network in 0..17u32 {
        for n in 0..2 {
            let client = format!("2001:db8:4:{network:x}::1");
            app.anon()
                .send_request(forwarded("127.0.0.1", &client, attempt(2 * network + n)))
                .await
                .problem(401);
        }
    }
    app.anon()
        .send_request(forwarded("127.0.0.1", "2001:db8:4:99::1", attempt(99)))
        .await
        .problem(401);
}

#[tokio::test]
async fn one_ipv6_network_going_on_past_its_limit_leaves_its_site_to_its_neighbours() {
    let (app, attempt) = behind_a_trusted_proxy_with_site_limit("x", Some(32)).await;
    // Forty attempts from one /64: two let through, the rest refused; the
    // refused ones are not counted against the site (32 here).
    for n in 0..40 {
        let answer = app
            .anon()
            .send_request(forwarded("127.0.0.1", "2001:db8:6:1::1", attempt(n)))
            .await;
        answer.problem(if n < 2 { 401 } else { 429 });
    }
    // A neighbour in the same /48 still has its attempts.
    app.anon()
        .send_request(forwarded("127.0.0.1", "2001:db8:6:2::1", attempt(99)))
        .await
        .problem(401);
}

/// Gives account `id` a hash of [`TEST_PASSWORD`] made with earlier
/// settings (19 MiB, two passes), as an account from before they changed
/// has; answers it.
async fn hash_with_earlier_settings(app: &TestApp, id: i32) -> String {
    use argon2::password_hash::SaltString;
    use argon2::password_hash::rand_core::OsRng;
    use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version};

    let earlier = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).unwrap(),
    )
    .hash_password(TEST_PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
    .unwrap()
    .to_string();
    app.sql(&format!(
        "UPDATE users SET password_hash = '{earlier}' WHERE id = {id}"
    ))
    .await;
    earlier
}

/// A password hashed with the settings before session 25 (19 MiB, 2 passes)
/// still opens its account, for sign-ins at once too, and is hashed anew
/// with the current settings after a sign-in: a later wrong password takes
/// as long as an unknown email's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_password_hashed_with_earlier_settings_signs_in_and_is_hashed_anew() {
    let app = TestApp::spawn().await;
    let (id, _) = app.quick_account("old@example.com", Role::Customer).await;
    let earlier = hash_with_earlier_settings(&app, id).await;
    let stored = async || {
        app.strings(&format!("SELECT password_hash FROM users WHERE id = {id}"))
            .await
            .remove(0)
    };
    let sign_in = || sign_in_raw(&app, "old@example.com", TEST_PASSWORD);
    let at_once = futures_util::future::join_all((0..4).map(|_| sign_in())).await;
    for answer in &at_once {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while stored().await == earlier {
        assert!(std::time::Instant::now() < deadline, "never hashed anew");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        stored()
            .await
            .starts_with("$argon2id$v=19$m=12288,t=3,p=1$"),
        "{}",
        stored().await
    );
    assert_eq!(sign_in().await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_sign_ins_while_the_hash_is_made_anew_is_never_told_the_password_is_wrong() {
    let app = TestApp::with_config(|config| {
        // Few slots, a short wait: some sign-ins find every slot busy, the
        // check after the hash was made anew among them.
        config.password_hash_slots = 2;
        config.password_hash_wait = Duration::from_millis(30);
        config.auth_rate_limit.per_email = 1000;
        config.auth_rate_limit.per_address = 1000;
    })
    .await;
    let (id, _) = app.quick_account("old@example.com", Role::Customer).await;
    let sign_in = || sign_in_raw(&app, "old@example.com", TEST_PASSWORD);
    let mut answers = Vec::new();
    let stored = async || {
        app.strings(&format!("SELECT password_hash FROM users WHERE id = {id}"))
            .await
            .remove(0)
    };
    // Four rounds of six clients signing in again and again for a second,
    // and on until the hash is made anew (a loaded machine may give the
    // remaking its slot late): in each, some have read the old hash when
    // the one made anew lands, and check the password once more while the
    // slots are taken.
    for _ in 0..4 {
        let earlier = hash_with_earlier_settings(&app, id).await;
        let started = std::time::Instant::now();
        let remade = std::sync::atomic::AtomicBool::new(false);
        let client = async || {
            let mut answers = Vec::new();
            while started.elapsed() < Duration::from_secs(1)
                || !remade.load(std::sync::atomic::Ordering::Relaxed)
            {
                answers.push(sign_in().await);
            }
            answers
        };
        let watcher = async {
            while stored().await == earlier && started.elapsed() < Duration::from_secs(20) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            remade.store(true, std::sync::atomic::Ordering::Relaxed);
        };
        let (rounds, ()) = tokio::join!(
            futures_util::future::join_all((0..6).map(|_| client())),
            watcher
        );
        answers.extend(rounds.into_iter().flatten());
        assert_ne!(stored().await, earlier, "never hashed anew");
    }
    // Right password: signed in, or 503 (not checked: retry), never 401.
    for answer in &answers {
        assert!(
            [StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE].contains(&answer.status),
            "{} {}",
            answer.status,
            answer.text()
        );
    }
    assert!(answers.iter().any(|answer| answer.status == StatusCode::OK));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_password_change_goes_on_when_another_sign_in_makes_the_hash_anew_meanwhile() {
    use diesel_async::SimpleAsyncConnection;
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let (id, token) = app.quick_account("old@example.com", Role::Customer).await;
    hash_with_earlier_settings(&app, id).await;
    // The account's row held, so that what comes queues for it in turn.
    let mut holder = crate::orders::holding(
        &app,
        &format!("SELECT 1 FROM users WHERE id = {id} FOR UPDATE"),
    )
    .await;
    let waiting = "pg_stat_activity WHERE datname = current_database() \
                   AND wait_event_type = 'Lock'";
    let wait_for = async |waiters: i64| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while app.count(waiting).await < waiters {
            assert!(
                std::time::Instant::now() < deadline,
                "never {waiters} waiting"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    // A sign-in elsewhere: its hash made anew (the same password) queues first.
    let signed_in = sign_in_raw(&app, "old@example.com", TEST_PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.text());
    wait_for(1).await;
    // The change, its current password checked against the earlier hash,
    // queues after it.
    let changing = {
        let (app, token) = (app.clone(), token.clone());
        tokio::spawn(async move {
            app.user(&token)
                .post(
                    "/api/auth/password",
                    json!({"current_password": TEST_PASSWORD, "new_password": "a new long password"}),
                )
                .await
        })
    };
    wait_for(2).await;
    holder.batch_execute("COMMIT").await.unwrap();
    // It finds the hash made anew, of the same password: changed, not a 422.
    let changed = changing.await.unwrap();
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text());
    assert_eq!(me(&app, &token).await.status, StatusCode::OK);
    let other = signed_in.json()["data"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(me(&app, &other).await.status, StatusCode::UNAUTHORIZED);
    let new = sign_in_raw(&app, "old@example.com", "a new long password").await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.text());
}
