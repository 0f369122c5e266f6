//! The Catwalk API and its importer: exact Atelier shapes against a
//! fixture, dirty rows rejected and reported, refusal and `--replace`,
//! rollback of a failed import, generated data at scale, and the cache.

use std::path::{Path, PathBuf};

use axum::http::{Method, StatusCode};
use emporium::catwalk::import::import;
use emporium::domain::Role;
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// A directory of its own under the system's temp dir, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        let path =
            std::env::temp_dir().join(format!("emporium-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const PRODUCTS: &str = "\
id,name,slogan,description,category,default_price
1,\"Camo Onesie\",\"Blend in to your crowd\",\"The So Fatigues will wake you up, and fit you in.\",\"Jackets\",140
2,\"Bright Future Sunglasses\",\"You've got to wear shades\",\"Where you're going you might not need roads, you need \"\"sunglasses\"\".\",\"Accessories\",69
3,\"Morning Joggers\",\"Make yourself a morning person\",\"Whether you're a morning person or not.\",\"jackets\",40
4,\"\",\"no name\",\"rejected\",\"Pants\",10
";
const FEATURES: &str = "\
id,product_id,feature,value
1,1,\"Fabric\",\"Canvas\"
2,1,\"Buttons\",\"Brass\"
3,2,\"Lenses\",\"Ultrasheen\"
4,9,\"Fabric\",\"Ghost\"
";
const STYLES: &str = "\
id,productId,name,sale_price,original_price,default_style
1,1,Forest Green & Black,null,140,1
2,1,Desert Brown & Tan,100,140,0
3,2,Black Lenses & Black Frame,null,69,1
";
const PHOTOS: &str = "\
id,styleId,url,thumbnail_url
1,1,\"https://img.example/1.jpg\",\"https://img.example/1t.jpg\"
2,1,\"https://img.example/2.jpg,\"https://img.example/2t.jpg\"
3,2,\"https://img.example/3.jpg\",\"https://img.example/3t.jpg\"
";
const SKUS: &str = "\
id,styleId,size,quantity
1,1,\"XS\",8
2,1,\"S\",16
3,2,\"M\",0
4,9,\"L\",3
5,2,\"XL\",-2
";
const RELATED: &str = "\
id,current_product_id,related_product_id
1,1,2
2,1,3
3,2,1
4,2,0
5,1,77
";

pub(crate) fn write_fixture(dir: &Path) {
    for (name, text) in [
        ("product.csv", PRODUCTS),
        ("features.csv", FEATURES),
        ("styles.csv", STYLES),
        ("photos.csv", PHOTOS),
        ("skus.csv", SKUS),
        ("related.csv", RELATED),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

pub(crate) async fn imported_fixture() -> (TestApp, TempDir) {
    let app = TestApp::spawn().await;
    let dir = TempDir::new();
    write_fixture(&dir.0);
    import(&app.state, &dir.0, false).await.unwrap();
    (app, dir)
}

#[tokio::test]
async fn a_line_the_tables_would_refuse_costs_its_line_not_the_import() {
    let app = TestApp::spawn().await;
    let dir = TempDir::new();
    write_fixture(&dir.0);
    // A repeated id in each file, a NUL byte, a category name too long, an
    // id as high as an integer goes: each once failed the whole import.
    let append = |name: &str, lines: &str| {
        let path = dir.0.join(name);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(lines);
        std::fs::write(&path, text).unwrap();
    };
    append(
        "product.csv",
        "1,\"Again\",\"s\",\"d\",\"Jackets\",1\n\
         5,\"Nul\",\"a\u{0}b\",\"d\",\"Jackets\",1\n\
         6,\"Long\",\"s\",\"d\",\"CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC\",1\n\
         2147483647,\"Last\",\"s\",\"d\",\"Jackets\",1\n",
    );
    // A line of 1.5 MiB, skipped without being held whole; the next one
    // loads.
    append(
        "product.csv",
        &format!(
            "7,\"Huge\",\"s\",\"{}\",\"Jackets\",1\n8,\"Eight\",\"s\",\"d\",\"Jackets\",1\n",
            "x".repeat(3 << 19)
        ),
    );
    // A category no filter could name (API.md: names hold no control character).
    append("product.csv", "9,\"Tab\",\"s\",\"d\",\"Jack\tets\",1\n");
    // A slogan and a description as the API takes them: too long, or with
    // a control character, is the line's; blank is none.
    append(
        "product.csv",
        &format!(
            "10,\"Wordy\",\"s\",\"{}\",\"Gizmos\",1\n\
             11,\"Bell\",\"a\u{7}b\",\"d\",\"Jackets\",1\n\
             12,\"Blank\",\"  \",\"d\",\"Jackets\",1\n",
            "w ".repeat(5001)
        ),
    );
    append("features.csv", "1,2,\"Fabric\",\"Again\"\n");
    append("styles.csv", "3,2,Again,null,69,0\n");
    append(
        "photos.csv",
        "1,2,\"https://img.example/again.jpg\",\"t\"\n",
    );
    append("skus.csv", "2,2,\"S\",1\n");
    append("related.csv", "1,2,3\n");
    let report = import(&app.state, &dir.0, false).await.unwrap();
    let counts: Vec<_> = report
        .files
        .iter()
        .map(|file| (file.file, file.loaded, file.rejected))
        .collect();
    assert_eq!(
        counts,
        [
            ("product.csv", 6, 8),
            ("features.csv", 3, 2),
            ("styles.csv", 3, 1),
            ("photos.csv", 2, 2),
            ("skus.csv", 3, 3),
            ("related.csv", 3, 3),
        ]
    );
    let listed = std::fs::read_to_string(report.rejects_file.as_ref().unwrap()).unwrap();
    for reason in [
        "product.csv:6: id 1 came before",
        "product.csv:7: holds a NUL byte",
        "product.csv:8: category must be at most 255 characters",
        "product.csv:12: category must not contain control characters",
        "product.csv:13: description must be at most 10000 characters",
        "product.csv:14: slogan must not contain control characters",
        "product.csv:10: longer than 1048576 bytes",
        "styles.csv:5: id 3 came before",
    ] {
        assert!(listed.contains(reason), "{reason} not in {listed}");
    }
    // The catalog is the fixture's and the last three products.
    assert_eq!(app.count("products").await, 6);
    assert_eq!(
        app.count("products WHERE id = 12 AND slogan IS NULL").await,
        1
    );
    assert_eq!(app.count("products WHERE id = 2147483647").await, 1);
    // A refused line's category is not made.
    assert_eq!(
        app.count("categories WHERE category_name = 'Gizmos'").await,
        0
    );
    // With the ids used up, a new product is a conflict, not a 500.
    let app = app.and_admin().await;
    app.admin()
        .post(
            "/api/products",
            serde_json::json!({"product_name": "One more", "price": "1.00"}),
        )
        .await
        .problem(409);
}

#[tokio::test]
async fn the_importer_loads_good_rows_and_reports_the_others() {
    let app = TestApp::spawn().await;
    let dir = TempDir::new();
    write_fixture(&dir.0);
    let report = import(&app.state, &dir.0, false).await.unwrap();
    let counts: Vec<_> = report
        .files
        .iter()
        .map(|file| (file.file, file.read, file.loaded, file.rejected))
        .collect();
    assert_eq!(
        counts,
        [
            ("product.csv", 4, 3, 1),
            ("features.csv", 4, 3, 1),
            ("styles.csv", 3, 3, 0),
            ("photos.csv", 3, 2, 1),
            ("skus.csv", 5, 3, 2),
            ("related.csv", 5, 3, 2),
        ]
    );
    let photos = &report.files[3].examples;
    assert_eq!(photos[0].0, 3, "the line number of the broken row");
    assert!(photos[0].1.contains("quot"), "{photos:?}");
    let related: Vec<_> = report.files[5]
        .examples
        .iter()
        .map(|(line, _)| *line)
        .collect();
    assert_eq!(related, [5, 6]);
    assert!(report.files[5].examples[0].1.contains("is 0"));
    // Every rejected line is in the file next to the data, with its reason.
    let listed = std::fs::read_to_string(report.rejects_file.as_ref().unwrap()).unwrap();
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 7, "{listed}");
    assert!(
        lines.contains(&"related.csv:5: related_product_id is 0"),
        "{listed}"
    );
    assert!(lines.iter().all(|line| line.split(':').count() >= 3));
    assert!(report.files[4].to_string().contains("line"));
    // One category per name regardless of case; stock is the SKUs' sum.
    assert_eq!(report.categories, 2);
    assert_eq!(app.count("categories").await, 2);
    let product = app.anon().get("/api/products/1").await.json();
    assert_eq!(product["data"]["stock"], 24);
    assert_eq!(product["data"]["category"]["category_name"], "Jackets");
    assert_eq!(
        product["data"]["features"],
        json!([{"feature": "Fabric", "value": "Canvas"}, {"feature": "Buttons", "value": "Brass"}])
    );
    // Sequences continue past the largest id.
    let (_, admin) = app.quick_account("root@example.com", Role::Admin).await;
    let created = app
        .client(Some(&admin))
        .send_json(
            Method::POST,
            "/api/products",
            json!({"product_name": "New", "price": 1, "stock": 1}),
        )
        .await;
    assert_eq!(created.json()["data"]["id"], 4);
}

#[tokio::test]
async fn the_routes_answer_the_atelier_shapes_exactly() {
    let (app, _dir) = imported_fixture().await;
    let page = app.anon().get("/catwalk/products").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.json().as_array().unwrap().len() == 3);
    assert_eq!(
        app.anon()
            .get("/catwalk/products?page=1&count=1")
            .await
            .json(),
        json!([{
            "id": 1, "name": "Camo Onesie", "slogan": "Blend in to your crowd",
            "description": "The So Fatigues will wake you up, and fit you in.",
            "category": "Jackets", "default_price": "140.00"
        }])
    );
    assert_eq!(
        app.anon()
            .get("/catwalk/products?page=9&count=5")
            .await
            .json(),
        json!([])
    );
    assert_eq!(
        app.anon().get("/catwalk/products/2").await.json(),
        json!({
            "id": 2, "name": "Bright Future Sunglasses", "slogan": "You've got to wear shades",
            "description": "Where you're going you might not need roads, you need \"sunglasses\".",
            "category": "Accessories", "default_price": "69.00",
            "features": [{"feature": "Lenses", "value": "Ultrasheen"}]
        })
    );
    assert_eq!(
        app.anon().get("/catwalk/products/1/styles").await.json(),
        json!({"product_id": "1", "results": [
            {"style_id": 1, "name": "Forest Green & Black", "original_price": "140.00", "sale_price": null,
             "default?": true,
             "photos": [{"thumbnail_url": "https://img.example/1t.jpg", "url": "https://img.example/1.jpg"}],
             "skus": {"1": {"quantity": 8, "size": "XS"}, "2": {"quantity": 16, "size": "S"}}},
            {"style_id": 2, "name": "Desert Brown & Tan", "original_price": "140.00", "sale_price": "100.00",
             "default?": false,
             "photos": [{"thumbnail_url": "https://img.example/3t.jpg", "url": "https://img.example/3.jpg"}],
             "skus": {"3": {"quantity": 0, "size": "M"}}}
        ]})
    );
    // The Atelier's placeholders for a style without photos or SKUs.
    assert_eq!(
        app.anon().get("/catwalk/products/2/styles").await.json(),
        json!({"product_id": "2", "results": [
            {"style_id": 3, "name": "Black Lenses & Black Frame", "original_price": "69.00", "sale_price": null,
             "default?": true, "photos": [{"thumbnail_url": null, "url": null}],
             "skus": {"null": {"quantity": null, "size": null}}}
        ]})
    );
    assert_eq!(
        app.anon().get("/catwalk/products/3/styles").await.json(),
        json!({"product_id": "3", "results": []})
    );
    assert_eq!(
        app.anon().get("/catwalk/products/1/related").await.json(),
        json!([2, 3])
    );
    assert_eq!(
        app.anon().get("/catwalk/products/3/related").await.json(),
        json!([])
    );
    assert_eq!(
        app.anon().get("/catwalk/products/3").await.json()["features"],
        json!([])
    );
    // The OpenAPI document describes each shape member by member.
    let openapi = app.anon().get("/api/openapi.json").await.json();
    let members = |schema: &str| -> Vec<String> {
        let mut names: Vec<String> = openapi["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{schema} is described"))
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    };
    let keys_of = |value: &Value| -> Vec<String> {
        let mut names: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        names.sort();
        names
    };
    let styles = app.anon().get("/catwalk/products/1/styles").await.json();
    let product = app.anon().get("/catwalk/products/2").await.json();
    let listed = app.anon().get("/catwalk/products").await.json();
    for (schema, answer) in [
        ("CatwalkStyles", &styles),
        ("CatwalkStyle", &styles["results"][0]),
        ("CatwalkPhoto", &styles["results"][0]["photos"][0]),
        ("CatwalkSku", &styles["results"][0]["skus"]["1"]),
        ("CatwalkProduct", &product),
        ("CatwalkFeature", &product["features"][0]),
        ("CatwalkListProduct", &listed[0]),
    ] {
        assert_eq!(members(schema), keys_of(answer), "{schema}");
    }
    // Spelled as every `/api` answer: no spaces around `:` or `,`, no
    // newlines, strings untouched; cached or not.
    for _ in 0..2 {
        for path in [
            "/catwalk/products",
            "/catwalk/products/1",
            "/catwalk/products/1/styles",
            "/catwalk/products/1/related",
        ] {
            let text = app.anon().get(path).await.text();
            let respelled =
                serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&text).unwrap())
                    .unwrap();
            assert!(
                !text.contains("\" : ") && !text.contains(", \"") && !text.contains('\n'),
                "{path}: {text}"
            );
            assert_eq!(text.len(), respelled.len(), "{path}: {text}");
        }
    }
}

#[tokio::test]
async fn unknown_and_malformed_ids_and_pages_are_problems() {
    let (app, _dir) = imported_fixture().await;
    for path in [
        "/catwalk/products/999",
        "/catwalk/products/999/styles",
        "/catwalk/products/999/related",
    ] {
        app.anon().get(path).await.problem(404);
    }
    for path in [
        "/catwalk/products/abc",
        "/catwalk/products/0/styles",
        "/catwalk/products/-1/related",
        "/catwalk/products/99999999999",
        "/catwalk/products?page=x",
        "/catwalk/products?count=1.5",
        "/catwalk/products?sort=name",
    ] {
        app.anon().get(path).await.problem(400);
    }
    app.anon()
        .get("/catwalk/products?count=0")
        .await
        .field_error("count");
    app.anon()
        .get("/catwalk/products?count=101")
        .await
        .field_error("count");
    app.anon()
        .get("/catwalk/products?page=0")
        .await
        .field_error("page");
    let past = app.anon().get("/catwalk/products?page=3000000000").await;
    assert_eq!(
        past.field_error("page")["errors"]["page"],
        serde_json::json!(["must be from 1 to 2147483647"])
    );
    assert_eq!(
        app.anon().get("/catwalk/products?count=100").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn catwalk_documents_are_cached_and_retired_by_catalog_writes() {
    let (app, _dir) = imported_fixture().await;
    let (_, admin) = app.quick_account("boss@example.com", Role::Admin).await;
    for path in [
        "/catwalk/products",
        "/catwalk/products/1",
        "/catwalk/products/1/styles",
        "/catwalk/products/1/related",
    ] {
        let first = app.anon().get(path).await;
        let second = app.anon().get(path).await;
        assert_eq!(first.header("x-data-source"), Some("postgres"), "{path}");
        assert_eq!(second.header("x-data-source"), Some("redis"), "{path}");
        assert_eq!(first.body, second.body, "{path}");
        assert_eq!(first.header("etag"), second.header("etag"), "{path}");
    }
    // One key serves both renderings of a product.
    app.anon().get("/api/products/1").await;
    let client = redis::Client::open(crate::helpers::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let fields: Vec<String> = redis::cmd("HKEYS")
        .arg(format!("{}product:1", app.redis_prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(fields.len(), 2, "{fields:?}");

    app.client(Some(&admin))
        .send_json(Method::PUT, "/api/products/1", json!({"price": "150.00"}))
        .await;
    let detail = app.anon().get("/catwalk/products/1").await;
    assert_eq!(detail.header("x-data-source"), Some("postgres"));
    assert_eq!(detail.json()["default_price"], "150.00");
    assert_eq!(
        app.anon()
            .get("/catwalk/products/1/styles")
            .await
            .header("x-data-source"),
        Some("postgres")
    );
    assert_eq!(
        app.anon().get("/catwalk/products").await.json()[0]["default_price"],
        "150.00"
    );

    app.client(Some(&admin))
        .send_json(
            Method::PUT,
            "/api/categories/1",
            json!({"category_name": "Coats"}),
        )
        .await;
    assert_eq!(
        app.anon().get("/catwalk/products/1").await.json()["category"],
        "Coats"
    );
    // Deleting a product retires the related lists that named it.
    assert_eq!(
        app.anon().get("/catwalk/products/2/related").await.json(),
        json!([1])
    );
    app.client(Some(&admin))
        .request(Method::DELETE, "/api/products/1")
        .await;
    assert_eq!(
        app.anon().get("/catwalk/products/2/related").await.json(),
        json!([])
    );
    app.anon()
        .get("/catwalk/products/1/styles")
        .await
        .problem(404);
}

#[tokio::test]
async fn a_second_import_is_refused_or_replaces_cleanly() {
    let (app, dir) = imported_fixture().await;
    let (_, customer) = app.quick_account("kit@example.com", Role::Customer).await;
    let placed = app
        .client(Some(&customer))
        .send_json(
            Method::POST,
            "/api/orders",
            json!({"items": [{"product_id": 1, "sku_id": 1, "quantity": 2}]}),
        )
        .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    assert_eq!(
        app.anon().get("/api/products/1").await.json()["data"]["stock"],
        22
    );

    let refused = import(&app.state, &dir.0, false).await.unwrap_err();
    assert!(refused.to_string().contains("--replace"), "{refused}");
    assert_eq!(app.count("products").await, 3);

    app.anon().get("/catwalk/products/1/styles").await;
    // Kept: the import must retire it.
    let kept = app.anon().get("/catwalk/products/1/styles").await;
    assert_eq!(kept.header("x-data-source"), Some("redis"));
    import(&app.state, &dir.0, true).await.unwrap();
    assert_eq!(app.count("products").await, 3);
    assert_eq!(app.count("skus").await, 3);
    // The replaced catalog is what readers see, and the past order keeps its snapshot.
    let styles = app.anon().get("/catwalk/products/1/styles").await;
    assert_eq!(styles.header("x-data-source"), Some("postgres"));
    assert_eq!(styles.json()["results"][0]["skus"]["1"]["quantity"], 8);
    let order = app
        .client(Some(&customer))
        .request(Method::GET, "/api/orders")
        .await
        .json();
    assert!(order["data"][0]["items"][0]["product_id"].is_null());
    assert_eq!(order["data"][0]["items"][0]["product_name"], "Camo Onesie");
    // Seed runs after an import and adds the bootcamp rows with fresh ids.
    app.seed().await;
    assert_eq!(app.count("products").await, 8);
}

#[tokio::test]
async fn a_failed_import_leaves_the_catalog_as_it_was() {
    let (app, dir) = imported_fixture().await;
    std::fs::write(
        dir.0.join("skus.csv"),
        "id,style,size,quantity\n1,1,\"XS\",8\n",
    )
    .unwrap();
    let error = import(&app.state, &dir.0, true).await.unwrap_err();
    assert!(error.to_string().contains("header"), "{error}");
    assert_eq!(app.count("products").await, 3);
    assert_eq!(app.count("skus").await, 3);
    assert_eq!(app.count("categories").await, 2);
    assert_eq!(
        app.anon().get("/catwalk/products/1/styles").await.status,
        StatusCode::OK
    );
    // An index or key the import dropped is back.
    let mut conn = app.db().await;
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    let indexes = diesel::sql_query(
        "SELECT count(*) AS count FROM pg_indexes WHERE indexname = 'skus_style_id_idx'",
    )
    .get_result::<Count>(&mut conn)
    .await
    .unwrap();
    assert_eq!(indexes.count, 1);

    std::fs::remove_file(dir.0.join("related.csv")).unwrap();
    let missing = import(&app.state, &dir.0, true).await.unwrap_err();
    assert!(missing.to_string().contains("related.csv"), "{missing}");
    assert_eq!(app.count("products").await, 3);
}

/// A `--replace` that would swap in a catalog that can sell nothing (every
/// SKU line pointing to styles of another export; styles with no SKU file
/// rows at all) is refused, and the old catalog stays (it used to be
/// swapped in, every product out of stock, and the import said it went
/// well).
#[tokio::test]
async fn an_import_that_could_sell_nothing_is_refused_and_changes_nothing() {
    let (app, dir) = imported_fixture().await;
    for (skus, says) in [
        (
            "id,styleId,size,quantity\n1,901,\"XS\",8\n2,902,\"S\",16\n",
            "every line of skus.csv",
        ),
        ("id,styleId,size,quantity\n", "no SKU"),
    ] {
        std::fs::write(dir.0.join("skus.csv"), skus).unwrap();
        let error = import(&app.state, &dir.0, true).await.unwrap_err();
        assert!(error.to_string().contains(says), "{error}");
        assert!(error.to_string().contains("nothing was changed"), "{error}");
        // It says where the rejected lines are listed, when any were.
        let listed = dir.0.join(emporium::catwalk::import::REJECTS_FILE);
        assert_eq!(
            error.to_string().contains(&listed.display().to_string()),
            listed.exists(),
            "{error}"
        );
        assert_eq!(app.count("skus").await, 3);
        assert_eq!(app.count("products WHERE stock > 0").await, 1);
    }
}

/// A line in another encoding (Latin-1's "Café") is rejected by name, not
/// loaded with its letter replaced.
#[tokio::test]
async fn a_line_that_is_not_utf8_is_rejected_not_mangled() {
    let app = TestApp::spawn().await;
    let dir = TempDir::new();
    write_fixture(&dir.0);
    let path = dir.0.join("product.csv");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"5,\"Caf\xe9 Table\",\"s\",\"d\",\"Jackets\",10\n");
    std::fs::write(&path, bytes).unwrap();
    let report = import(&app.state, &dir.0, false).await.unwrap();
    let listed = std::fs::read_to_string(report.rejects_file.unwrap()).unwrap();
    assert!(
        listed.contains("product.csv:6: not UTF-8 (byte 7 of the line)"),
        "{listed}"
    );
    assert_eq!(app.count("products").await, 3);
}

/// The list of rejected lines goes beside the files; where it cannot (a
/// read-only folder; here a directory stands in its way), to the
/// temporary folder, and the import goes on (it failed at the first bad
/// line).
#[tokio::test]
async fn rejected_lines_are_listed_elsewhere_when_the_folder_cannot_take_them() {
    let app = TestApp::spawn().await;
    let dir = TempDir::new();
    write_fixture(&dir.0);
    std::fs::create_dir(dir.0.join(emporium::catwalk::import::REJECTS_FILE)).unwrap();
    let report = import(&app.state, &dir.0, false).await.unwrap();
    let listed = report.rejects_file.unwrap();
    assert!(
        listed.starts_with(std::env::temp_dir()),
        "{}",
        listed.display()
    );
    assert!(!listed.starts_with(&dir.0), "{}", listed.display());
    let text = std::fs::read_to_string(&listed).unwrap();
    std::fs::remove_file(&listed).unwrap();
    assert!(text.contains("product.csv:5:"), "{text}");
    assert_eq!(app.count("products").await, 3);
}

#[tokio::test]
async fn generated_data_imports_with_its_proportions_and_dirt() {
    let app = TestApp::spawn().await;
    let dir = TempDir::new();
    let generated = emporium::catwalk::generate::generate(&dir.0, 2_000, 42).unwrap();
    // Deterministic for a seed.
    let again = TempDir::new();
    assert_eq!(
        emporium::catwalk::generate::generate(&again.0, 2_000, 42).unwrap(),
        generated
    );
    assert_eq!(
        std::fs::read(dir.0.join("photos.csv")).unwrap(),
        std::fs::read(again.0.join("photos.csv")).unwrap()
    );
    let per_product = |count: u64| count as f64 / generated.products as f64;
    assert!((2.0..2.4).contains(&per_product(generated.features)));
    assert!((1.8..2.1).contains(&per_product(generated.styles)));
    assert!((5.2..6.2).contains(&per_product(generated.photos)));
    assert!((10.5..12.0).contains(&per_product(generated.skus)));
    assert!((4.3..4.7).contains(&per_product(generated.related)));

    let report = import(&app.state, &dir.0, false).await.unwrap();
    let loaded: Vec<u64> = report.files.iter().map(|file| file.loaded).collect();
    let rejected: u64 = report.files.iter().map(|file| file.rejected).sum();
    assert_eq!(rejected, generated.dirty);
    assert!(report.files[3].rejected > 0 && report.files[5].rejected > 0);
    assert_eq!(loaded[0], generated.products);
    assert_eq!(loaded[3] + report.files[3].rejected, generated.photos);
    assert_eq!(app.count("products").await as u64, generated.products);
    assert_eq!(app.count("skus").await as u64, generated.skus);
    let styles = app.anon().get("/catwalk/products/2000/styles").await;
    assert_eq!(styles.status, StatusCode::OK);
}

#[tokio::test]
async fn an_import_leaves_its_tables_analyzed_and_writes_each_product_once() {
    let app = TestApp::spawn().await;
    let dir = TempDir::new();
    emporium::catwalk::generate::generate(&dir.0, 500, 7).unwrap();
    import(&app.state, &dir.0, false).await.unwrap();
    // The import's connection reports its row counts as it closes: wait
    // for them, then no product was ever updated (so none left an old
    // version behind: autovacuum may be off).
    let written = "pg_stat_user_tables WHERE relname = 'products' AND n_tup_ins > 0";
    for _ in 0..100 {
        if app.count(written).await == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(app.count(written).await, 1);
    let rewritten = app
        .count(
            "pg_stat_user_tables WHERE relname = 'products' AND (n_tup_upd > 0 OR n_dead_tup > 0)",
        )
        .await;
    assert_eq!(rewritten, 0);
    let unanalyzed = app
        .count(
            "pg_stat_user_tables WHERE relname IN ('products', 'styles', 'skus', 'photos', \
             'features', 'related_products') AND last_analyze IS NULL AND last_autoanalyze IS NULL",
        )
        .await;
    assert_eq!(unanalyzed, 0);
}

#[tokio::test]
async fn every_product_is_sold_through_api_at_the_price_it_shows() {
    let (app, _dir) = imported_fixture().await;
    let detail = app.anon().get("/api/products/1").await.json()["data"].clone();
    assert_eq!(detail["sold_by_sku"], true);
    assert_eq!(
        (detail["min_price"].clone(), detail["max_price"].clone()),
        (json!("100.00"), json!("140.00"))
    );
    assert_eq!(
        detail["variants"],
        json!([
            {"style_id": 1, "name": "Forest Green & Black", "original_price": "140.00",
             "sale_price": null, "price": "140.00", "default": true,
             "photos": [{"thumbnail_url": "https://img.example/1t.jpg", "url": "https://img.example/1.jpg"}],
             "skus": [{"sku_id": 1, "size": "XS", "stock": 8}, {"sku_id": 2, "size": "S", "stock": 16}]},
            {"style_id": 2, "name": "Desert Brown & Tan", "original_price": "140.00",
             "sale_price": "100.00", "price": "100.00", "default": false,
             "photos": [{"thumbnail_url": "https://img.example/3t.jpg", "url": "https://img.example/3.jpg"}],
             "skus": [{"sku_id": 3, "size": "M", "stock": 0}]}
        ])
    );
    // A product whose styles have no SKUs is not sold by SKU, and shows no
    // variants (API.md: `[]` for a product without SKUs).
    let glasses = app.anon().get("/api/products/2").await.json()["data"].clone();
    assert_eq!(glasses["sold_by_sku"], false);
    assert_eq!(glasses["variants"], json!([]));
    assert_eq!(
        (glasses["min_price"].clone(), glasses["max_price"].clone()),
        (json!("69.00"), json!("69.00"))
    );
    assert_eq!(
        app.anon().get("/api/products/3").await.json()["data"]["variants"],
        json!([])
    );
    let listed = app
        .anon()
        .get("/api/products?sortBy=name&order=ASC")
        .await
        .json();
    let onesie = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == 1)
        .unwrap()
        .clone();
    assert_eq!(
        (onesie["sold_by_sku"].clone(), onesie["min_price"].clone()),
        (json!(true), json!("100.00"))
    );
    // So does every product object in a list, those a category or a tag
    // embeds too (API.md).
    for id in [1, 2] {
        let product = app.anon().get(&format!("/api/products/{id}")).await.json()["data"].clone();
        let category = product["category_id"].as_i64().unwrap();
        let group = app
            .anon()
            .get(&format!("/api/categories/{category}"))
            .await
            .json();
        let embedded = group["data"]["products"]
            .as_array()
            .unwrap()
            .iter()
            .find(|embedded| embedded["id"] == id)
            .unwrap()
            .clone();
        for field in ["sold_by_sku", "min_price", "max_price"] {
            assert_eq!(
                embedded[field], product[field],
                "{field} of {id}: {embedded}"
            );
        }
    }

    // The price on the variant is the price of the cart line and of the order line.
    let (_, token) = app.quick_account("vic@example.com", Role::Customer).await;
    let added = app
        .user(&token)
        .post(
            "/api/cart/items",
            json!({"product_id": 1, "sku_id": 2, "quantity": 2}),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text());
    let line = added.json()["data"]["items"][0].clone();
    assert_eq!(
        (
            line["style_name"].clone(),
            line["size"].clone(),
            line["unit_price"].clone()
        ),
        (
            json!("Forest Green & Black"),
            json!("S"),
            detail["variants"][0]["price"].clone()
        )
    );
    let placed = app
        .user(&token)
        .post("/api/orders", json!({"expected_total": "280.00"}))
        .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    let ordered = placed.json()["data"]["items"][0].clone();
    assert_eq!(
        (ordered["style_name"].clone(), ordered["size"].clone()),
        (json!("Forest Green & Black"), json!("S"))
    );
    assert_eq!(ordered["unit_price"], "140.00");
    // The detail shows the SKU's new stock at once.
    let after = app.anon().get("/api/products/1").await.json();
    assert_eq!(after["source"], "postgres");
    assert_eq!(after["data"]["variants"][0]["skus"][1]["stock"], 14);
    // A product without SKUs: no style or size on its lines.
    let plain = app
        .user(&token)
        .post("/api/cart/items", json!({"product_id": 3, "quantity": 1}))
        .await;
    assert_eq!(plain.json()["data"]["items"][0]["style_name"], Value::Null);
}
