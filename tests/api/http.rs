//! HTTP around the API: conditional GETs, compression, CORS, the default
//! body limit, and the route table against the OpenAPI document. (The
//! metrics endpoint has a test binary of its own: `tests/metrics.rs`.)

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use emporium::domain::Role;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn a_matching_if_none_match_is_a_304_until_the_data_changes() {
    let app = TestApp::seeded_with_admin().await;
    let first = app.admin().get("/api/products/1").await;
    let etag = first.header("etag").unwrap().to_owned();
    let cached = app
        .admin()
        .send(
            Method::GET,
            "/api/products/1",
            None,
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    assert!(cached.body.is_empty());
    assert_eq!(cached.header("etag"), Some(etag.as_str()));
    // An admin's answer is theirs (see `what_caches_may_keep`).
    assert_eq!(cached.header("cache-control"), Some("private, no-cache"));
    // The 304 varies as its 200 does (RFC 9110 §15.4.5), compressed or not.
    assert_eq!(first.header("vary"), Some("accept-encoding"));
    assert_eq!(cached.header("vary"), Some("accept-encoding"));
    // A strong spelling of the same tag, a list, and `*` match too (weak comparison).
    let strong = etag.trim_start_matches("W/").to_owned();
    for header in [strong.as_str(), &format!("\"nope\", {etag}"), "*"] {
        let response = app
            .admin()
            .send(
                Method::GET,
                "/api/products/1",
                None,
                &[("if-none-match", header)],
            )
            .await;
        assert_eq!(response.status, StatusCode::NOT_MODIFIED, "{header}");
    }
    // A list over two header lines is one list (RFC 9110 §5.3).
    let two_lines = app
        .admin()
        .send(
            Method::GET,
            "/api/products/1",
            None,
            &[("if-none-match", "\"nope\""), ("if-none-match", &etag)],
        )
        .await;
    assert_eq!(two_lines.status, StatusCode::NOT_MODIFIED);
    let other = app
        .admin()
        .send(
            Method::GET,
            "/api/products/1",
            None,
            &[("if-none-match", "W/\"0\"")],
        )
        .await;
    assert_eq!(other.status, StatusCode::OK);
    app.admin()
        .put("/api/products/1", json!({"price": 15}))
        .await;
    let changed = app
        .admin()
        .send(
            Method::GET,
            "/api/products/1",
            None,
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
    // Errors are never 304.
    let missing = app
        .admin()
        .send(
            Method::GET,
            "/api/products/999",
            None,
            &[("if-none-match", "*")],
        )
        .await;
    missing.problem(404);
}

#[tokio::test]
async fn large_json_is_compressed_when_asked_and_small_answers_are_not() {
    let app = TestApp::seeded().await;
    let accepting = async |path: &str, encoding: &str| {
        app.anon()
            .send(Method::GET, path, None, &[("accept-encoding", encoding)])
            .await
    };
    let plain = app.anon().get("/api/categories").await;
    assert!(plain.body.len() > 1024);
    assert!(plain.header("content-encoding").is_none());
    for encoding in ["gzip", "br"] {
        let compressed = accepting("/api/categories", encoding).await;
        assert_eq!(compressed.header("content-encoding"), Some(encoding));
        assert!(compressed.body.len() < plain.body.len());
        if encoding == "gzip" {
            assert!(compressed.body.starts_with(&[0x1f, 0x8b]));
        } else {
            // A brotli stream has no magic number: decoded, it is the JSON.
            let mut decoded = Vec::new();
            brotli_decompressor::BrotliDecompress(&mut &compressed.body[..], &mut decoded).unwrap();
            let decoded: serde_json::Value = serde_json::from_slice(&decoded).unwrap();
            assert_eq!(decoded["data"], plain.json()["data"]);
        }
    }
    let small = accepting("/health/live", "gzip").await;
    assert!(small.header("content-encoding").is_none());
    // Nor the Swagger UI's static script: a compressor's state lives while
    // a slow client reads, some 4 MiB for brotli and that script.
    for encoding in ["gzip", "br"] {
        let script = accepting("/docs/swagger-ui-bundle.js", encoding).await;
        assert_eq!(script.status, StatusCode::OK);
        assert!(script.body.len() > 1_000_000);
        assert!(script.header("content-encoding").is_none(), "{encoding}");
    }
    // Nor its styles, though smaller than much JSON that is compressed.
    let styles = accepting("/docs/swagger-ui.css", "br").await;
    assert_eq!(styles.status, StatusCode::OK);
    assert!(styles.body.len() > 100 * 1024 && styles.header("content-encoding").is_none());
}

/// A client that refuses unencoded answers and accepts none of ours: the
/// compression layer used to answer 406 after the handler ran (a category
/// created, the client told it was not). The preference is disregarded
/// instead (RFC 9110 §12.5.3): the write's own answer, unencoded.
#[tokio::test]
async fn a_client_refusing_unencoded_answers_gets_the_writes_answer() {
    let app = TestApp::seeded_with_admin().await;
    for (n, refusal) in ["identity;q=0", "zstd, *;q=0"].into_iter().enumerate() {
        let created = app
            .admin()
            .send(
                Method::POST,
                "/api/categories",
                Some(Body::from(
                    json!({"category_name": format!("Refused {n}")}).to_string(),
                )),
                &[
                    ("content-type", "application/json"),
                    ("accept-encoding", refusal),
                ],
            )
            .await;
        assert_eq!(
            created.status,
            StatusCode::CREATED,
            "{refusal}: {}",
            created.text()
        );
        assert!(created.header("content-encoding").is_none());
        let read = app
            .anon()
            .send(
                Method::GET,
                "/api/categories",
                None,
                &[("accept-encoding", refusal)],
            )
            .await;
        assert_eq!(read.status, StatusCode::OK, "{refusal}");
    }
    // The refusal on a line of its own counts as well (RFC 9110 §5.3).
    let split = app
        .anon()
        .send(
            Method::GET,
            "/api/categories",
            None,
            &[
                ("accept-encoding", "zstd"),
                ("accept-encoding", "identity;q=0"),
            ],
        )
        .await;
    assert_eq!(split.status, StatusCode::OK);
    // With an encoding it accepts, it gets that one.
    let gzip = app
        .anon()
        .send(
            Method::GET,
            "/api/categories",
            None,
            &[("accept-encoding", "gzip, identity;q=0")],
        )
        .await;
    assert_eq!(gzip.header("content-encoding"), Some("gzip"));
}

/// Shared caches (a CDN, a proxy) may keep the catalog but never a
/// signed-in user's answer, a token, or a problem (a 404 is cacheable by
/// default); every client revalidates a document before showing it.
#[tokio::test]
async fn what_caches_may_keep() {
    let app = TestApp::seeded().await;
    let (_, token) = app.quick_account("mo@example.com", Role::Customer).await;
    let cache_control = |response: &crate::helpers::TestResponse| {
        response.header("cache-control").map(str::to_owned)
    };
    let catalog = app.anon().get("/api/products/1").await;
    assert_eq!(cache_control(&catalog).as_deref(), Some("no-cache"));
    for path in ["/api/cart", "/api/orders", "/api/products/1"] {
        let mine = app.user(&token).get(path).await;
        assert_eq!(mine.status, StatusCode::OK, "{path}");
        assert_eq!(
            cache_control(&mine).as_deref(),
            Some("private, no-cache"),
            "{path}"
        );
    }
    let me = app.user(&token).get("/api/auth/me").await;
    assert_eq!(cache_control(&me).as_deref(), Some("no-store"));
    let signed_in = app
        .anon()
        .post(
            "/api/auth/signin",
            json!({"email": "mo@example.com", "password": crate::helpers::TEST_PASSWORD}),
        )
        .await;
    assert_eq!(
        cache_control(&signed_in).as_deref(),
        Some("no-store"),
        "{}",
        signed_in.text()
    );
    let missing = app.anon().get("/api/products/999").await;
    missing.problem(404);
    assert_eq!(cache_control(&missing).as_deref(), Some("no-store"));
}

/// The docs' own assets answer a bare 404 for a file they lack: a 404
/// problem (it was a 400 "the request was refused").
#[tokio::test]
async fn a_missing_docs_asset_is_a_404_problem() {
    let app = TestApp::spawn().await;
    app.anon().get("/docs/nope.js").await.problem(404);
}

#[tokio::test]
async fn cors_is_closed_by_default_and_opens_to_configured_origins() {
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/products")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type, x-request-id",
            )
            .body(Body::empty())
            .unwrap()
    };
    let closed = TestApp::spawn().await;
    let response = closed
        .anon()
        .send_request(preflight("https://shop.example"))
        .await;
    assert!(response.header("access-control-allow-origin").is_none());
    // Closed, an OPTIONS is a request like another: a 405 naming what the
    // route allows, or a 404 where no route is; and nothing varies by origin.
    let allowed_methods = response.problem(405);
    assert!(response.header("allow").is_some(), "{allowed_methods}");
    let nowhere = Request::builder()
        .method(Method::OPTIONS)
        .uri("/no/such/path")
        .body(Body::empty())
        .unwrap();
    closed.anon().send_request(nowhere).await.problem(404);
    let read = closed.anon().get("/api/products").await;
    assert!(!read.header("vary").unwrap_or("").contains("origin"));

    let open = TestApp::with_config(|config| {
        config.cors_allowed_origins = vec!["https://shop.example".parse().unwrap()];
    })
    .await;
    let allowed = open
        .anon()
        .send_request(preflight("https://shop.example"))
        .await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    assert!(
        allowed
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    // A front end may send its own request id (the server keeps a sane one).
    assert!(
        allowed
            .header("access-control-allow-headers")
            .unwrap()
            .contains("x-request-id")
    );
    let refused = open
        .anon()
        .send_request(preflight("https://evil.example"))
        .await;
    assert!(refused.header("access-control-allow-origin").is_none());
    let read = open
        .anon()
        .send(
            Method::GET,
            "/api/products",
            None,
            &[("origin", "https://shop.example")],
        )
        .await;
    assert!(
        read.header("access-control-expose-headers")
            .unwrap()
            .to_lowercase()
            .contains("x-data-source")
    );
}

#[tokio::test]
async fn a_two_mebibyte_body_is_a_413_problem() {
    let app = TestApp::spawn().await;
    let body =
        json!({"email": "a@example.com", "password": "x".repeat(2 * 1024 * 1024), "name": "A"});
    app.anon()
        .post("/api/auth/signup", body.clone())
        .await
        .problem(413);
    // A client that declares the length is refused before the body is read,
    // by the limit layer itself: still problem+json.
    let bytes = body.to_string();
    let length = bytes.len().to_string();
    let declared = app
        .anon()
        .send(
            Method::POST,
            "/api/auth/signup",
            Some(Body::from(bytes)),
            &[
                ("content-type", "application/json"),
                ("content-length", &length),
            ],
        )
        .await;
    declared.problem(413);
    assert_eq!(app.count("users").await, 0);
}

/// Every route of API.md, as (method, path template).
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/categories"),
    ("POST", "/api/categories"),
    ("GET", "/api/categories/{id}"),
    ("PUT", "/api/categories/{id}"),
    ("DELETE", "/api/categories/{id}"),
    ("GET", "/api/products"),
    ("POST", "/api/products"),
    ("GET", "/api/products/{id}"),
    ("PUT", "/api/products/{id}"),
    ("DELETE", "/api/products/{id}"),
    ("GET", "/api/tags"),
    ("POST", "/api/tags"),
    ("GET", "/api/tags/{id}"),
    ("PUT", "/api/tags/{id}"),
    ("DELETE", "/api/tags/{id}"),
    ("POST", "/api/auth/signup"),
    ("POST", "/api/auth/signin"),
    ("POST", "/api/auth/signout"),
    ("GET", "/api/auth/me"),
    ("PUT", "/api/auth/me"),
    ("POST", "/api/auth/password"),
    ("POST", "/api/auth/signout-all"),
    ("GET", "/api/auth/sessions"),
    ("DELETE", "/api/auth/sessions/{id}"),
    ("GET", "/api/cart"),
    ("DELETE", "/api/cart"),
    ("POST", "/api/cart/items"),
    ("PUT", "/api/cart/items/{id}"),
    ("DELETE", "/api/cart/items/{id}"),
    ("GET", "/api/orders"),
    ("POST", "/api/orders"),
    ("GET", "/api/orders/{id}"),
    ("PATCH", "/api/orders/{id}"),
    ("POST", "/api/orders/{id}/cancel"),
    ("GET", "/catwalk/products"),
    ("GET", "/catwalk/products/{product_id}"),
    ("GET", "/catwalk/products/{product_id}/styles"),
    ("GET", "/catwalk/products/{product_id}/related"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/metrics"),
];

#[tokio::test]
async fn the_openapi_document_and_the_router_have_the_same_routes() {
    let app = TestApp::seeded().await;
    let document = app.anon().get("/api/openapi.json").await.json();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut documented = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    let mut expected: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    expected.sort();
    assert_eq!(
        documented, expected,
        "the document and API.md's routes differ"
    );
    // Each documented operation is served: probed with real requests, none
    // falls through to the router's 404 or 405.
    for (method, path) in &documented {
        let concrete = path.replace("{id}", "1").replace("{product_id}", "1");
        let response = app
            .anon()
            .send(
                method.parse().unwrap(),
                &concrete,
                Some(Body::from("{}")),
                &[("content-type", "application/json")],
            )
            .await;
        let body = response.text();
        assert_ne!(
            response.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert!(
            !body.contains("no route matches"),
            "{method} {path} is not routed"
        );
    }
    // Guarded operations declare the bearer scheme; error answers are problem+json.
    let signout = &document["paths"]["/api/auth/signout"]["post"];
    assert_eq!(signout["security"][0]["bearer"], json!([]));
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
    let order = &document["paths"]["/api/orders"]["post"];
    assert!(order["responses"]["409"]["content"]["application/problem+json"].is_object());
    assert!(
        order["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "Idempotency-Key")
    );
    let listing = &document["paths"]["/api/products"]["get"];
    assert!(listing["responses"]["200"]["headers"]["X-Data-Source"].is_object());
}

#[tokio::test]
async fn a_body_with_several_bad_fields_names_every_one() {
    let app = TestApp::with_admin().await;
    let response = app
        .admin()
        .post(
            "/api/products",
            json!({"product_name": 5, "price": "abc", "stock": -1, "slogan": [], "colour": "red"}),
        )
        .await;
    let body = response.problem(422);
    let errors = body["errors"].as_object().unwrap();
    for field in ["product_name", "price", "stock", "slogan", "colour"] {
        assert!(errors.contains_key(field), "{field} not named: {body}");
    }
    // A missing field and a wrong one, and each bad line of an order.
    let response = app
        .admin()
        .post("/api/products", json!({"stock": "many"}))
        .await;
    let errors = response.problem(422)["errors"].clone();
    assert!(errors.get("product_name").is_some() && errors.get("price").is_some());
    assert!(errors.get("stock").is_some(), "{errors}");
    let response = app
        .admin()
        .post(
            "/api/orders",
            json!({"items": [
                {"product_id": 1, "quantity": 0},
                {"product_id": "x", "quantity": 1},
                {"product_id": 1, "quantity": 1, "size": "L"},
            ]}),
        )
        .await;
    let errors = response.problem(422)["errors"].clone();
    for field in ["items[0].quantity", "items[1].product_id", "items[2].size"] {
        assert!(errors.get(field).is_some(), "{field} not named: {errors}");
    }
}

#[tokio::test]
async fn every_bad_or_unknown_query_parameter_is_a_400_naming_it() {
    let app = TestApp::with_admin().await;
    for (path, named) in [
        ("/api/products?colour=red", vec!["colour"]),
        (
            "/api/products?page=x&limit=y&inStock=maybe",
            vec!["page", "limit", "inStock"],
        ),
        ("/api/products?minPrice=abc", vec!["minPrice"]),
        (
            "/api/products?page=x&minPrice=abc&maxPrice=1.0.0&foo=1",
            vec!["page", "minPrice", "maxPrice", "foo"],
        ),
        ("/api/tags?foo=bar", vec!["foo"]),
        ("/api/orders?from=yesterday", vec!["from"]),
        ("/api/orders?sort=id", vec!["sort"]),
        ("/api/categories?page=", vec!["page"]),
        ("/catwalk/products?page=&count=two", vec!["page", "count"]),
        // Not text once percent-decoded: refused, not read with its bytes
        // replaced.
        ("/api/products?q=%FF&category=caf%C3", vec!["q", "category"]),
        ("/api/products?bogus=1&q=%FF", vec!["bogus", "q"]),
        ("/catwalk/products?page=%FE", vec!["page"]),
    ] {
        let response = app.admin().get(path).await;
        let body = response.problem(400);
        for parameter in named {
            assert!(
                body["errors"].get(parameter).is_some(),
                "{path}: {parameter} not named: {body}"
            );
        }
    }
}

#[tokio::test]
async fn a_query_in_percent_encoded_utf8_is_read_as_sent() {
    let app = TestApp::seeded().await;
    let cafe = app.anon().get("/api/products?q=caf%C3%A9+cr%C3%A8me").await;
    assert_eq!(cafe.status, StatusCode::OK, "{}", cafe.text());
}

#[tokio::test]
async fn a_query_of_more_names_than_a_route_could_take_is_refused_unread() {
    let app = TestApp::seeded().await;
    // `count` parameters: `{name}{n}={value}`, or `{name}={value}{n}`.
    let many = |count: usize, name: &str| {
        (0..count)
            .map(|n| {
                if name.ends_with('=') {
                    format!("{name}c{n}")
                } else {
                    format!("{name}{n}=1")
                }
            })
            .collect::<Vec<_>>()
            .join("&")
    };
    // A few unknown names are each named; past 64, the query is refused whole.
    let few = app
        .anon()
        .get(&format!("/api/products?{}", many(3, "x")))
        .await;
    assert_eq!(few.problem(400)["errors"].as_object().unwrap().len(), 3);
    for path in [
        "/api/products",
        "/api/categories",
        "/catwalk/products",
        "/api/products/1",
    ] {
        // Names that are not text are no exception.
        for name in ["x", "%FFx"] {
            let refused = app.anon().get(&format!("{path}?{}", many(65, name))).await;
            let errors = refused.problem(400)["errors"].clone();
            assert_eq!(errors.as_object().unwrap().len(), 1, "{path}: {errors}");
            assert!(errors.get("query").is_some(), "{path}: {errors}");
        }
    }
    // A list of categories or tags names at most 20, commas counted.
    let names = |count: usize| many(count, "category=");
    let listed = app
        .anon()
        .get(&format!("/api/products?{}", names(21)))
        .await;
    let errors = listed.field_error("category")["errors"]["category"].clone();
    assert!(errors.to_string().contains("at most 20"), "{errors}");
    let commas = (0..21).map(|n| format!("t{n}")).collect::<Vec<_>>();
    let tagged = format!("/api/products?tag={}", commas.join(","));
    app.anon().get(&tagged).await.field_error("tag");
    // Twenty unknown ones are each looked up and named as unknown.
    let unknown = app
        .anon()
        .get(&format!("/api/products?{}", names(20)))
        .await;
    let errors = unknown.field_error("category")["errors"]["category"].clone();
    assert_eq!(errors.as_array().unwrap().len(), 20, "{errors}");
}

#[tokio::test]
async fn a_route_that_takes_no_query_parameter_refuses_every_one_by_name() {
    let app = TestApp::seeded_with_admin().await;
    for (method, path, named) in [
        (Method::GET, "/api/products/1?foo=1", vec!["foo"]),
        (Method::GET, "/api/products/1?a=1&b&a=2", vec!["a", "b"]),
        (Method::GET, "/api/cart?x=1", vec!["x"]),
        (Method::POST, "/api/orders?x=1", vec!["x"]),
        (Method::DELETE, "/api/products/1?force=true", vec!["force"]),
        (
            Method::GET,
            "/catwalk/products/1/styles?page=2",
            vec!["page"],
        ),
        (Method::GET, "/api/auth/me?verbose", vec!["verbose"]),
        // Routes outside the OpenAPI document too.
        (Method::GET, "/api/openapi.json?v=2", vec!["v"]),
        (Method::GET, "/problems?lang=de", vec!["lang"]),
        (Method::GET, "/problems/not-found?x=1", vec!["x"]),
    ] {
        let response = app.admin().request(method.clone(), path).await;
        let body = response.problem(400);
        for parameter in named {
            assert!(
                body["errors"].get(parameter).is_some(),
                "{method} {path}: {parameter} not named: {body}"
            );
        }
    }
    // Nothing was deleted; without the parameter, as before.
    assert_eq!(
        app.anon().get("/api/products/1").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.anon().get("/catwalk/products/1/styles?").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_nul_in_any_text_of_a_body_is_refused_by_name() {
    let app = TestApp::seeded_with_admin().await;
    let (_, token) = app.quick_account("nul@example.com", Role::Customer).await;
    let address = json!({"name": "N\u{0}", "line1": "1 Road", "city": "Town",
                         "postal_code": "1", "country": "GB"});
    for (token, method, path, body, field) in [
        (
            None,
            Method::POST,
            "/api/auth/signup",
            json!({"email": "a\u{0}@example.com", "password": "long enough", "name": "A"}),
            "email",
        ),
        (
            None,
            Method::POST,
            "/api/auth/signup",
            json!({"email": "b@example.com", "password": "long enough", "name": "B\u{0}"}),
            "name",
        ),
        (
            None,
            Method::POST,
            "/api/auth/signin",
            json!({"email": "c\u{0}@example.com", "password": "long enough"}),
            "",
        ),
        (
            Some(app.admin_token()),
            Method::POST,
            "/api/products",
            json!({"product_name": "P\u{0}", "price": "1.00"}),
            "product_name",
        ),
        (
            Some(app.admin_token()),
            Method::POST,
            "/api/categories",
            json!({"category_name": "C\u{0}"}),
            "category_name",
        ),
        (
            Some(token.as_str()),
            Method::POST,
            "/api/orders",
            json!({"items": [{"product_id": 1, "quantity": 1}], "shipping_address": address}),
            "",
        ),
        (
            Some(token.as_str()),
            Method::PUT,
            "/api/auth/me",
            json!({"name": "M\u{0}"}),
            "name",
        ),
    ] {
        let answer = app
            .client(token)
            .send_json(method.clone(), path, body)
            .await;
        assert!(
            answer.status.is_client_error(),
            "{method} {path}: {} {}",
            answer.status,
            answer.text()
        );
        if !field.is_empty() {
            answer.field_error(field);
        }
    }
    assert_eq!(app.count("orders").await, 0);
}

#[tokio::test]
async fn every_problem_type_resolves_to_a_page_that_explains_it() {
    let app = TestApp::seeded().await;
    let answers = [
        app.anon().get("/api/products/abc").await.problem(400),
        app.anon()
            .get("/api/products?colour=red")
            .await
            .problem(400),
        app.anon().get("/api/orders").await.problem(401),
        app.anon().get("/api/products/999").await.problem(404),
        app.anon().get("/api/products?limit=500").await.problem(422),
    ];
    for problem in answers {
        let kind = problem["type"].as_str().unwrap();
        let page = app.anon().get(kind).await;
        assert_eq!(page.status, StatusCode::OK, "{kind}");
        assert!(
            page.header("content-type")
                .unwrap()
                .starts_with("text/html")
        );
        let title = problem["title"].as_str().unwrap();
        assert!(page.text().contains(title), "{kind}: {}", page.text());
    }
    let index = app.anon().get("/problems").await;
    assert!(index.text().contains("/problems/conflict"));
    app.anon().get("/problems/no-such-kind").await.problem(404);
    let docs = app.anon().get("/api/openapi.json").await.json();
    assert!(
        docs["info"]["description"]
            .as_str()
            .unwrap()
            .contains("(/problems)")
    );
}

#[tokio::test]
async fn what_a_201_creates_is_read_where_its_location_says() {
    let app = TestApp::seeded_with_admin().await;
    let signed_up = app
        .client(None)
        .post(
            "/api/auth/signup",
            json!({"email": "loc@example.com", "password": "correct horse 1", "name": "Loc"}),
        )
        .await;
    let token = signed_up.json()["data"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = [
        (
            app.admin()
                .post("/api/categories", json!({"category_name": "Scarves"}))
                .await,
            None,
        ),
        (
            app.admin()
                .post("/api/tags", json!({"tag_name": "merino"}))
                .await,
            None,
        ),
        (
            app.admin()
                .post(
                    "/api/products",
                    json!({"product_name": "Beanie", "price": "9.00", "stock": 5}),
                )
                .await,
            None,
        ),
        (
            app.user(&token)
                .post(
                    "/api/orders",
                    json!({"items": [{"product_id": 1, "quantity": 1}]}),
                )
                .await,
            Some(token.as_str()),
        ),
    ];
    // A sign-up creates an account, which no path names by id: it says none.
    assert_eq!(signed_up.header("location"), None);
    for (answer, reader) in created {
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
        let location = answer
            .header("location")
            .expect("a 201 says where")
            .to_owned();
        let read = app.client(reader).get(&location).await;
        assert_eq!(read.status, StatusCode::OK, "{location}: {}", read.text());
        assert_eq!(
            read.json()["data"]["id"],
            answer.json()["data"]["id"],
            "{location}"
        );
    }
}
