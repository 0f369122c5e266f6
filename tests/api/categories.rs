//! `/api/categories`.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn lists_categories_with_their_products_and_totals() {
    let app = TestApp::seeded_with_admin().await;
    let response = app.admin().get("/api/categories").await;
    assert_eq!(response.status, StatusCode::OK);
    let body = response.json();
    assert_eq!(body["total"], 5);
    assert_eq!(
        (body["page"].clone(), body["limit"].clone()),
        (json!(1), json!(20))
    );
    let shirts = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|category| category["category_name"] == "Shirts")
        .unwrap();
    assert_eq!(shirts["products_total"], 1);
    assert_eq!(shirts["products"][0]["product_name"], "Plain T-Shirt");
    assert_eq!(shirts["products"][0]["price"], "14.99");
}

#[tokio::test]
async fn lists_categories_and_tags_without_their_products_when_asked() {
    let app = TestApp::seeded().await;
    for path in ["/api/categories", "/api/tags"] {
        let full = app.anon().get(path).await.json();
        let bare = app.anon().get(&format!("{path}?products=false")).await;
        assert_eq!(bare.status, StatusCode::OK, "{}", bare.text());
        let bare = bare.json();
        assert_eq!(bare["total"], full["total"]);
        let rows = full["data"].as_array().unwrap().len();
        assert!(rows > 0);
        assert_eq!(bare["data"].as_array().unwrap().len(), rows);
        for (with, without) in full["data"]
            .as_array()
            .unwrap()
            .iter()
            .zip(bare["data"].as_array().unwrap())
        {
            assert!(with["products"].is_array());
            assert!(without.get("products").is_none(), "{without}");
            assert_eq!(without["products_total"], with["products_total"]);
            assert_eq!(without["id"], with["id"]);
        }
        // Each is cached on its own: the bare page does not serve the full one.
        let again = app
            .anon()
            .get(&format!("{path}?products=true"))
            .await
            .json();
        assert!(again["data"][0]["products"].is_array());
        app.anon()
            .get(&format!("{path}?products=none"))
            .await
            .problem(400);
    }
}

#[tokio::test]
async fn cacheable_reads_say_where_they_came_from() {
    let app = TestApp::seeded_with_admin().await;
    for path in [
        "/api/categories",
        "/api/categories/1",
        "/api/products",
        "/api/products/1",
        "/api/tags",
        "/api/tags/1",
    ] {
        // The first read builds the document, the second finds it.
        for expected in ["postgres", "redis"] {
            let response = app.admin().get(path).await;
            assert_eq!(response.status, StatusCode::OK, "{path}");
            assert_eq!(response.json()["source"], expected, "{path}");
            assert_eq!(response.header("x-data-source"), Some(expected), "{path}");
            assert!(
                response.header("etag").unwrap().starts_with("W/\""),
                "{path}"
            );
        }
    }
}

#[tokio::test]
async fn pages_through_categories_without_overlap() {
    let app = TestApp::seeded_with_admin().await;
    let mut ids = Vec::new();
    for page in 1..=3 {
        let answer = app
            .admin()
            .get(&format!("/api/categories?page={page}&limit=2"))
            .await
            .json();
        let shown = answer["data"].as_array().unwrap();
        assert_eq!(shown.len(), if page < 3 { 2 } else { 1 }, "page {page}");
        ids.extend(
            shown
                .iter()
                .map(|category| category["id"].as_i64().unwrap()),
        );
    }
    // Every category once, in order: no page repeats or skips one.
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    let beyond = app
        .admin()
        .get("/api/categories?page=4&limit=2")
        .await
        .json();
    assert_eq!(beyond["data"], json!([]));
    assert_eq!(beyond["total"], 5);
}

#[tokio::test]
async fn refuses_paging_values_out_of_range_or_unparseable() {
    let app = TestApp::with_admin().await;
    app.admin()
        .get("/api/categories?page=0")
        .await
        .field_error("page");
    app.admin()
        .get("/api/categories?limit=500")
        .await
        .field_error("limit");
    app.admin()
        .get("/api/categories?limit=0")
        .await
        .field_error("limit");
    app.admin()
        .get("/api/categories?page=abc")
        .await
        .problem(400);
    app.admin()
        .get("/api/categories?page=99999999999999999999")
        .await
        .problem(400);
}

#[tokio::test]
async fn gets_one_category_with_its_products() {
    let app = TestApp::seeded_with_admin().await;
    let list = app.admin().get("/api/categories").await.json();
    let hats = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|category| category["category_name"] == "Hats")
        .unwrap();
    let response = app
        .admin()
        .get(&format!("/api/categories/{}", hats["id"]))
        .await;
    assert_eq!(response.status, StatusCode::OK);
    let data = &response.json()["data"];
    assert_eq!(data["category_name"], "Hats");
    assert_eq!(data["products"][0]["product_name"], "Branded Baseball Hat");
    assert_eq!(data["products_total"], 1);
}

#[tokio::test]
async fn an_unknown_category_is_a_404_and_a_bad_id_a_400() {
    let app = TestApp::with_admin().await;
    app.admin().get("/api/categories/999").await.problem(404);
    for bad in ["abc", "0", "-1", "1.5", "99999999999", "%27%20OR%201=1"] {
        app.admin()
            .get(&format!("/api/categories/{bad}"))
            .await
            .problem(400);
    }
}

#[tokio::test]
async fn embeds_at_most_100_products_lowest_ids_first_and_counts_all() {
    let app = TestApp::with_admin().await;
    let category = app
        .admin()
        .post("/api/categories", json!({"category_name": "Bulk"}))
        .await
        .json()["data"]["id"]
        .clone();
    let mut conn = app.db().await;
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "INSERT INTO products (product_name, price, stock, category_id) \
             SELECT 'Item ' || n, 1, 1, {category} FROM generate_series(1, 105) AS n"
        )),
        &mut conn,
    )
    .await
    .unwrap();
    let data = app
        .admin()
        .get(&format!("/api/categories/{category}"))
        .await
        .json()["data"]
        .clone();
    let products = data["products"].as_array().unwrap();
    assert_eq!(products.len(), 100);
    assert_eq!(data["products_total"], 105);
    assert_eq!(products[0]["product_name"], "Item 1");
    let ids: Vec<i64> = products.iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
}

#[tokio::test]
async fn creates_a_category() {
    let app = TestApp::with_admin().await;
    let response = app
        .admin()
        .post("/api/categories", json!({"category_name": "  Jackets "}))
        .await;
    assert_eq!(response.status, StatusCode::CREATED);
    let data = &response.json()["data"];
    assert_eq!(data["category_name"], "Jackets");
    assert_eq!(data["products"], json!([]));
    assert_eq!(data["products_total"], 0);
    assert!(data["created_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn a_duplicate_name_in_any_case_is_a_conflict() {
    let app = TestApp::seeded_with_admin().await;
    app.admin()
        .post("/api/categories", json!({"category_name": "shirts"}))
        .await
        .problem(409);
    app.admin()
        .post("/api/categories", json!({"category_name": "SHIRTS "}))
        .await
        .problem(409);
    assert_eq!(app.count("categories").await, 5);
}

#[tokio::test]
async fn refuses_invalid_category_names_naming_the_field() {
    let app = TestApp::with_admin().await;
    for name in [
        json!(""),
        json!("   "),
        json!("x".repeat(256)),
        json!("tab\there"),
        json!(42),
        json!(null),
    ] {
        app.admin()
            .post("/api/categories", json!({"category_name": name}))
            .await
            .field_error("category_name");
    }
    app.admin()
        .post("/api/categories", json!({}))
        .await
        .problem(422);
    app.admin()
        .post(
            "/api/categories",
            json!({"category_name": "ok", "admin": true}),
        )
        .await
        .field_error("admin");
    assert_eq!(app.count("categories").await, 0);
}

#[tokio::test]
async fn malformed_bodies_are_bad_requests_and_others_are_refused_by_kind() {
    let app = TestApp::with_admin().await;
    let admin = app.admin();
    let send = |body: &'static [u8], content_type: &'static str| {
        admin.send_raw(Method::POST, "/api/categories", body.to_vec(), content_type)
    };
    send(b"{\"category_name\": ", "application/json")
        .await
        .problem(400);
    send(b"", "application/json").await.problem(400);
    send(b"not json", "application/json").await.problem(400);
    send(b"{\"category_name\": \"A\"}", "text/plain")
        .await
        .problem(415);
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    // Hostile nesting is refused (as the wrong type) without exhausting the stack.
    app.admin()
        .send_raw(
            Method::POST,
            "/api/categories",
            deep.into_bytes(),
            "application/json",
        )
        .await
        .problem(422);
    let huge = format!("{{\"category_name\": \"{}\"}}", "a".repeat(2 * 1024 * 1024));
    app.admin()
        .send_raw(
            Method::POST,
            "/api/categories",
            huge.into_bytes(),
            "application/json",
        )
        .await
        .problem(413);
    assert_eq!(app.count("categories").await, 0);
}

#[tokio::test]
async fn renames_a_category_and_a_body_without_changes_changes_nothing() {
    let app = TestApp::seeded_with_admin().await;
    let response = app
        .admin()
        .put("/api/categories/1", json!({"category_name": "Tops"}))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json()["data"]["category_name"], "Tops");
    let unchanged = app.admin().put("/api/categories/1", json!({})).await;
    assert_eq!(unchanged.status, StatusCode::OK);
    assert_eq!(unchanged.json()["data"]["category_name"], "Tops");
    let product = app.admin().get("/api/products?category=tops").await.json();
    assert_eq!(product["data"][0]["category"]["category_name"], "Tops");
}

#[tokio::test]
async fn renaming_fails_cleanly_for_unknown_ids_taken_names_and_bad_names() {
    let app = TestApp::seeded_with_admin().await;
    app.admin()
        .put("/api/categories/999", json!({"category_name": "X"}))
        .await
        .problem(404);
    app.admin()
        .put("/api/categories/999", json!({}))
        .await
        .problem(404);
    app.admin()
        .put("/api/categories/1", json!({"category_name": "Hats"}))
        .await
        .problem(409);
    app.admin()
        .put("/api/categories/1", json!({"category_name": ""}))
        .await
        .field_error("category_name");
    app.admin()
        .put("/api/categories/abc", json!({"category_name": "X"}))
        .await
        .problem(400);
    assert_eq!(
        app.admin().get("/api/categories/1").await.json()["data"]["category_name"],
        "Shirts"
    );
}

#[tokio::test]
async fn deleting_a_category_keeps_its_products_without_one() {
    let app = TestApp::seeded_with_admin().await;
    let shirt = app
        .admin()
        .get("/api/products?category=Shirts")
        .await
        .json()["data"][0]
        .clone();
    let response = app
        .admin()
        .delete(&format!("/api/categories/{}", shirt["category_id"]))
        .await;
    assert_eq!(response.status, StatusCode::NO_CONTENT);
    assert!(response.body.is_empty());
    let product = app
        .admin()
        .get(&format!("/api/products/{}", shirt["id"]))
        .await
        .json();
    assert_eq!(product["data"]["category_id"], json!(null));
    assert_eq!(product["data"]["category"], json!(null));
    app.admin()
        .delete(&format!("/api/categories/{}", shirt["category_id"]))
        .await
        .problem(404);
    app.admin().delete("/api/categories/0").await.problem(400);
}

#[tokio::test]
async fn deleting_a_category_moves_the_updated_at_of_the_products_it_changes() {
    let app = TestApp::seeded_with_admin().await;
    let shirt = app
        .admin()
        .get("/api/products?category=Shirts")
        .await
        .json()["data"][0]
        .clone();
    let path = format!("/api/products/{}", shirt["id"]);
    let deleted = app
        .admin()
        .delete(&format!("/api/categories/{}", shirt["category_id"]))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let after = app.admin().get(&path).await.json()["data"]["updated_at"].clone();
    assert!(
        after.as_str().unwrap() > shirt["updated_at"].as_str().unwrap(),
        "{after} after {}",
        shirt["updated_at"]
    );
}
