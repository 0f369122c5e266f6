//! `/api/tags`.

use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn lists_tags_with_their_products() {
    let app = TestApp::seeded_with_admin().await;
    let body = app.admin().get("/api/tags").await.json();
    assert_eq!(body["total"], 8);
    let rock = &body["data"][0];
    assert_eq!(rock["tag_name"], "rock music");
    assert_eq!(rock["products_total"], 2);
    let names: Vec<&str> = rock["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["product_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Branded Baseball Hat",
            "Top 40 Music Compilation Vinyl Record"
        ]
    );
}

#[tokio::test]
async fn gets_one_tag_or_answers_404_and_400() {
    let app = TestApp::seeded_with_admin().await;
    let response = app.admin().get("/api/tags/6").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json()["data"]["tag_name"], "white");
    assert_eq!(response.json()["data"]["products_total"], 2);
    app.admin().get("/api/tags/99").await.problem(404);
    app.admin().get("/api/tags/white").await.problem(400);
}

#[tokio::test]
async fn creates_a_tag_and_refuses_a_duplicate_or_invalid_name() {
    let app = TestApp::seeded_with_admin().await;
    let response = app
        .admin()
        .post("/api/tags", json!({"tag_name": "vintage"}))
        .await;
    assert_eq!(response.status, StatusCode::CREATED);
    assert_eq!(response.json()["data"]["tag_name"], "vintage");
    app.admin()
        .post("/api/tags", json!({"tag_name": "Vintage"}))
        .await
        .problem(409);
    app.admin()
        .post("/api/tags", json!({"tag_name": ""}))
        .await
        .field_error("tag_name");
    app.admin()
        .post("/api/tags", json!({"tag_name": ["a"]}))
        .await
        .field_error("tag_name");
    app.admin()
        .post("/api/tags", json!({"name": "x"}))
        .await
        .problem(422);
    assert_eq!(app.count("tags").await, 9);
}

#[tokio::test]
async fn renames_a_tag() {
    let app = TestApp::seeded_with_admin().await;
    let response = app
        .admin()
        .put("/api/tags/3", json!({"tag_name": "navy"}))
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json()["data"]["tag_name"], "navy");
    let shorts = app.admin().get("/api/products/5").await.json();
    assert_eq!(
        shorts["data"]["tags"],
        json!([{"id": 3, "tag_name": "navy"}])
    );
    app.admin()
        .put("/api/tags/3", json!({"tag_name": "red"}))
        .await
        .problem(409);
    app.admin()
        .put("/api/tags/99", json!({"tag_name": "x"}))
        .await
        .problem(404);
    app.admin()
        .put("/api/tags/3", json!({"tag_name": "\u{7}"}))
        .await
        .field_error("tag_name");
}

#[tokio::test]
async fn deleting_a_tag_unlinks_it_from_its_products() {
    let app = TestApp::seeded_with_admin().await;
    assert_eq!(
        app.admin().delete("/api/tags/6").await.status,
        StatusCode::NO_CONTENT
    );
    let sneakers = app.admin().get("/api/products/2").await.json();
    assert_eq!(sneakers["data"]["tags"], json!([]));
    assert_eq!(app.count("product_tags").await, 10);
    app.admin().delete("/api/tags/6").await.problem(404);
    app.admin().get("/api/tags/6").await.problem(404);
}

#[tokio::test]
async fn deleting_a_tag_moves_the_updated_at_of_the_products_it_changes() {
    let app = TestApp::seeded_with_admin().await;
    let before = app.admin().get("/api/products/2").await.json()["data"]["updated_at"].clone();
    assert_eq!(
        app.admin().delete("/api/tags/6").await.status,
        StatusCode::NO_CONTENT
    );
    let after = app.admin().get("/api/products/2").await.json()["data"]["updated_at"].clone();
    assert!(
        after.as_str().unwrap() > before.as_str().unwrap(),
        "{after} after {before}"
    );
}
