//! Search and browse: words found by stem, with typos and in categories,
//! best match first; tags and several categories; and paging that follows
//! `next` with a cursor instead of an OFFSET.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::cache::keys as redis_keys;
use crate::helpers::{TestApp, product_names as names};

async fn catalog_with_jackets() -> TestApp {
    let app = TestApp::seeded_with_admin().await;
    for body in [
        json!({"product_name": "Coastal Windbreaker", "price": 60, "stock": 3, "category_id": 1,
               "slogan": "Stay dry on the shore", "description": "A light jacket against the wind."}),
        json!({"product_name": "Harbor Parka", "price": 120, "stock": 2, "category_id": 1,
               "slogan": "Warm all winter", "description": "Keeps out wind and windbreaking gusts."}),
    ] {
        app.create_product(body).await;
    }
    app
}

async fn get(app: &TestApp, path: &str) -> Value {
    let answer = app.anon().get(path).await;
    assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text());
    answer.json()
}

#[tokio::test]
async fn a_search_finds_words_by_stem_with_typos_and_in_categories_best_first() {
    let app = catalog_with_jackets().await;
    // By stem: "sneaker" finds "Sneakers"; "jackets" finds "jacket" in a description.
    assert_eq!(
        names(&get(&app, "/api/products?q=sneaker").await),
        ["Running Sneakers"]
    );
    assert_eq!(
        names(&get(&app, "/api/products?q=jackets").await),
        ["Coastal Windbreaker"]
    );
    // With a typo, or split in two: the name is still found.
    for typo in ["windbraker", "wind%20break", "Windbreakr"] {
        let found = names(&get(&app, &format!("/api/products?q={typo}")).await);
        assert_eq!(
            found.first().map(String::as_str),
            Some("Coastal Windbreaker"),
            "{typo}: {found:?}"
        );
    }
    // A category's name finds its products; and a word a category's name
    // holds is no typo of a name's word (`shoes` is not `shorts`).
    assert_eq!(
        names(&get(&app, "/api/products?q=hats").await),
        ["Branded Baseball Hat"]
    );
    assert_eq!(
        names(&get(&app, "/api/products?q=shoes").await),
        ["Running Sneakers"]
    );
    // Best first: the name match ranks above a description match.
    let wind = names(&get(&app, "/api/products?q=wind").await);
    assert_eq!(wind, ["Coastal Windbreaker", "Harbor Parka"], "{wind:?}");
    // Other sorts still apply to the matches.
    let by_price = names(&get(&app, "/api/products?q=wind&sortBy=price&order=DESC").await);
    assert_eq!(by_price, ["Harbor Parka", "Coastal Windbreaker"]);
    // Relevance needs a search.
    app.anon()
        .get("/api/products?sortBy=relevance")
        .await
        .field_error("sortBy");
    // A search that matches nothing is an empty page.
    assert_eq!(get(&app, "/api/products?q=zzyzx").await["total"], 0);
}

#[tokio::test]
async fn a_typo_is_corrected_to_the_words_of_names_as_they_are_written_now() {
    let app = catalog_with_jackets().await;
    // No name holds "anorak" yet: a typo of it finds nothing.
    assert_eq!(get(&app, "/api/products?q=anorac").await["total"], 0);
    let parka = names(&get(&app, "/api/products?q=parka").await);
    assert_eq!(parka, ["Harbor Parka"]);
    let id = get(&app, "/api/products?q=parka").await["data"][0]["id"]
        .as_i64()
        .unwrap();
    let renamed = app
        .admin()
        .put(
            &format!("/api/products/{id}"),
            json!({"product_name": "Harbor Anorak"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text());
    // The new name's words are known at once, typos and all.
    for typo in ["anorac", "harbr%20anorak", "an%20orak"] {
        let found = names(&get(&app, &format!("/api/products?q={typo}")).await);
        assert_eq!(found, ["Harbor Anorak"], "{typo}");
    }
    // A word correctly spelled is not "corrected" into others.
    assert_eq!(
        names(&get(&app, "/api/products?q=harbor").await),
        ["Harbor Anorak"]
    );
    // A search that excludes a word keeps excluding it, typos or not.
    assert_eq!(
        get(&app, "/api/products?q=anorak%20-harbor").await["total"],
        0
    );
    assert_eq!(
        get(&app, "/api/products?q=anorac%20-harbor").await["total"],
        0
    );
    // Query syntax typed in is read as words, never as an error.
    for odd in [
        "%21%21%7C%26",
        "anorak%20%26%20%7C",
        "%27%3A*",
        "a%20b",
        "%E2%80%94",
    ] {
        let answer = app.anon().get(&format!("/api/products?q={odd}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{odd}: {}", answer.text());
    }
}

#[tokio::test]
async fn tags_and_several_categories_mean_any_of_them() {
    let app = TestApp::seeded_with_admin().await;
    let blue = names(&get(&app, "/api/products?tag=blue&sortBy=name&order=ASC").await);
    assert_eq!(blue, ["Branded Baseball Hat", "Cargo Shorts"]);
    let either = names(&get(&app, "/api/products?tag=white,red&sortBy=name&order=ASC").await);
    assert_eq!(
        either,
        ["Branded Baseball Hat", "Plain T-Shirt", "Running Sneakers"]
    );
    // The same tags in another order: the same list, kept apart (what a
    // value with a comma means depends on which names exist).
    let reordered = get(&app, "/api/products?tag=red,WHITE&sortBy=name&order=ASC").await;
    assert_eq!(names(&reordered), either);
    let again = get(&app, "/api/products?tag=red,WHITE&sortBy=name&order=ASC").await;
    assert_eq!(again["source"], "redis");
    let repeated = get(
        &app,
        "/api/products?tag=red&tag=WHITE&sortBy=name&order=ASC",
    )
    .await;
    assert_eq!(names(&repeated), either);
    let two = names(
        &get(
            &app,
            "/api/products?category=hats,Shorts&sortBy=name&order=ASC",
        )
        .await,
    );
    assert_eq!(two, ["Branded Baseball Hat", "Cargo Shorts"]);
    let both = names(
        &get(
            &app,
            "/api/products?category=hats&category=shorts&tag=blue&sortBy=name&order=ASC",
        )
        .await,
    );
    assert_eq!(both, ["Branded Baseball Hat", "Cargo Shorts"]);
    let unknown = app
        .anon()
        .get("/api/products?tag=blue,plaid&category=hats,nowhere")
        .await;
    let errors = unknown.problem(422)["errors"].clone();
    assert_eq!(errors["tag"], json!(["no tag is named \"plaid\""]));
    assert_eq!(
        errors["category"],
        json!(["no category is named \"nowhere\""])
    );
    // A name may hold a comma: it is one name when a category is called so.
    let tops = app.create_category("Tops, Tees").await;
    app.create_product(json!({"product_name": "Boxy Tee", "price": 9, "category_id": tops}))
        .await;
    assert_eq!(
        names(&get(&app, "/api/products?category=tops,%20tees").await),
        ["Boxy Tee"]
    );
    let with_hats = get(
        &app,
        "/api/products?category=Tops,%20Tees&category=hats&sortBy=name&order=ASC",
    )
    .await;
    assert_eq!(names(&with_hats), ["Boxy Tee", "Branded Baseball Hat"]);
    // Such lists are kept under `search:`, the nine-part keys stay for the plain ones.
    let keys = redis_keys(&app, "products:*").await;
    assert!(keys.is_empty(), "{keys:?}");
    assert!(!redis_keys(&app, "search:*").await.is_empty());
}

#[tokio::test]
async fn a_name_with_a_comma_and_the_names_it_lists_are_never_one_cached_list() {
    let app = TestApp::seeded_with_admin().await;
    let list = "/api/products?category=Hats,Shorts&sortBy=name&order=ASC";
    assert_eq!(
        names(&get(&app, list).await),
        ["Branded Baseball Hat", "Cargo Shorts"]
    );
    assert_eq!(get(&app, list).await["source"], "redis");
    // A category now has that very name: the filter means it alone, at once.
    app.create_category("Hats,Shorts").await;
    assert!(names(&get(&app, list).await).is_empty());
    // Another spelling of its parts still means the two categories, and is
    // not served the one category's list (nor the other way round).
    let parts = "/api/products?category=shorts,%20hats&sortBy=name&order=ASC";
    assert_eq!(
        names(&get(&app, parts).await),
        ["Branded Baseball Hat", "Cargo Shorts"]
    );
    let id = app.create_category("Shorts, Hats").await;
    app.create_product(json!({"product_name": "Boxy Tee", "price": 9, "category_id": id}))
        .await;
    assert_eq!(names(&get(&app, parts).await), ["Boxy Tee"]);
    let reordered = "/api/products?category=shorts,hats&sortBy=name&order=ASC";
    assert_eq!(
        names(&get(&app, reordered).await),
        ["Branded Baseball Hat", "Cargo Shorts"]
    );
    assert_eq!(names(&get(&app, parts).await), ["Boxy Tee"]);
    // Page by page, `next` keeps each value apart, commas and all.
    let (ids, pages) = follow(
        &app,
        "/api/products?category=Shorts,%20Hats&category=hats&limit=1&sortBy=name&order=ASC",
    )
    .await;
    assert_eq!((ids.len(), pages), (2, 2), "{ids:?}");
}

#[tokio::test]
async fn names_postgresql_tells_apart_are_never_one_cached_list() {
    let app = TestApp::seeded_with_admin().await;
    // Two categories to PostgreSQL's lower() (a final capital sigma is `σ`
    // to it), one to Rust's to_lowercase (`ς`).
    let mut lists = Vec::new();
    for (name, product) in [("ΟΔΟΣ", "Road Sign"), ("οδος", "Street Map")] {
        let id = app.create_category(name).await;
        app.create_product(json!({"product_name": product, "price": 5, "category_id": id}))
            .await;
        lists.push((format!("/api/products?category={name}"), product));
    }
    for _ in 0..2 {
        for (list, product) in &lists {
            assert_eq!(names(&get(&app, list).await), [*product], "{list}");
        }
    }
}

#[tokio::test]
async fn a_category_called_any_is_not_the_list_of_every_category() {
    let app = TestApp::seeded_with_admin().await;
    let id = app.create_category("Any").await;
    app.create_product(json!({"product_name": "Wildcard", "price": 5, "category_id": id}))
        .await;
    let everything = names(&get(&app, "/api/products?sortBy=name&order=ASC").await);
    assert!(everything.len() > 1, "{everything:?}");
    for _ in 0..2 {
        let any = get(&app, "/api/products?category=ANY&sortBy=name&order=ASC").await;
        assert_eq!(names(&any), ["Wildcard"]);
        assert_eq!(any["total"], 1);
    }
    assert_eq!(
        names(&get(&app, "/api/products?sortBy=name&order=ASC").await),
        everything
    );
    // With any other filter too (a search's key): each list its own,
    // whichever was asked first.
    app.create_product(json!({"product_name": "Wildcard Two", "price": 5}))
        .await;
    for _ in 0..2 {
        let every = get(&app, "/api/products?q=wildcard&sortBy=name&order=ASC").await;
        assert_eq!(names(&every), ["Wildcard", "Wildcard Two"], "{every}");
        let path = "/api/products?q=wildcard&category=Any&sortBy=name&order=ASC";
        let any = get(&app, path).await;
        assert_eq!(names(&any), ["Wildcard"], "{any}");
    }
}

/// Follows `next` from `first` to the end; every page's rows, in order.
async fn follow(app: &TestApp, first: &str) -> (Vec<i64>, usize) {
    follow_as(app, None, first).await
}

async fn follow_as(app: &TestApp, token: Option<&str>, first: &str) -> (Vec<i64>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut path = first.to_owned();
    loop {
        let answer = app.client(token).get(&path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text());
        let page = answer.json();
        pages += 1;
        // Each page reached by its cursor says which page it is.
        assert_eq!(page["page"], pages, "{path}");
        ids.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_i64().unwrap()),
        );
        match page["next"].as_str() {
            Some(next) => {
                assert_eq!(page["has_next"], true);
                assert!(next.contains("after="), "{next}");
                path = next.to_owned();
            }
            None => {
                assert_eq!(page["has_next"], false);
                return (ids, pages);
            }
        }
    }
}

#[tokio::test]
async fn following_next_walks_every_order_without_gaps_or_repeats() {
    let app = catalog_with_jackets().await;
    // Equal prices, to be ordered by id.
    app.create_product(json!({"product_name": "Twin A", "price": 60, "stock": 1}))
        .await;
    app.create_product(json!({"product_name": "Twin B", "price": 60, "stock": 1}))
        .await;
    for sort in [
        "sortBy=price&order=ASC",
        "sortBy=price&order=DESC",
        "sortBy=name&order=ASC",
        "sortBy=createdAt&order=DESC",
        "q=wind&sortBy=relevance",
        // A blank search with relevance (a search form sent empty) is a
        // list by what relevance falls back to, and its `next` keeps it so.
        "q=&sortBy=relevance",
    ] {
        let everything = get(&app, &format!("/api/products?{sort}&limit=100")).await;
        let expected: Vec<i64> = everything["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect();
        assert_eq!(everything["has_next"], false);
        assert_eq!(everything["next"], Value::Null);
        let (walked, pages) = follow(&app, &format!("/api/products?{sort}&limit=2")).await;
        assert_eq!(walked, expected, "{sort}");
        assert_eq!(pages, expected.len().div_ceil(2).max(1), "{sort}");
    }
    // A cursor belongs to its order; it takes no page; and it cannot be made up.
    let first = get(&app, "/api/products?sortBy=price&order=ASC&limit=2").await;
    let next = first["next"].as_str().unwrap().to_owned();
    let cursor = next.split("after=").nth(1).unwrap();
    app.anon()
        .get(&format!("/api/products?sortBy=name&limit=2&after={cursor}"))
        .await
        .field_error("after");
    app.anon()
        .get(&format!("{next}&page=2"))
        .await
        .field_error("page");
    app.anon()
        .get("/api/products?after=bm9wZQ")
        .await
        .field_error("after");
    // A cursor made up in the right order but with a value of the wrong
    // kind is a 422 too, not a query that fails in PostgreSQL.
    use base64::Engine;
    for (order, made_up) in [
        (
            "sortBy=createdAt&order=DESC",
            r#"{"o":"createdAt:DESC","i":1}"#,
        ),
        (
            "sortBy=price&order=ASC",
            r#"{"o":"price:ASC","v":"x","i":1}"#,
        ),
        (
            "q=wind&sortBy=relevance&order=DESC",
            r#"{"o":"relevance:DESC","v":"NaN","i":1}"#,
        ),
    ] {
        let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(made_up);
        app.anon()
            .get(&format!("/api/products?{order}&after={cursor}"))
            .await
            .field_error("after");
    }
    // A NUL, which no PostgreSQL text holds, anywhere a list reads text:
    // refused by name, never a 500.
    let nul_cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(r#"{"o":"name:ASC","v":"a\u0000b","i":1}"#);
    for path in [
        format!("/api/products?sortBy=name&order=ASC&after={nul_cursor}"),
        "/api/products?q=wind%00".to_owned(),
        "/api/products?category=a%00b".to_owned(),
        "/api/products?tag=%00".to_owned(),
        "/api/categories?q=%00".to_owned(),
    ] {
        let answer = app.anon().get(&path).await;
        assert!(
            answer.status.is_client_error(),
            "{path}: {} {}",
            answer.status,
            answer.text()
        );
    }
    // A value Rust reads and PostgreSQL would refuse: a year 0, an offset
    // past PostgreSQL's 15:59, a score that underflows. The year is out of
    // any list (422); the others are read as what they mean (200).
    for (order, made_up, status) in [
        (
            "sortBy=createdAt&order=DESC",
            r#"{"o":"createdAt:DESC","v":"0000-01-01T00:00:00Z","i":1}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "sortBy=createdAt&order=DESC",
            r#"{"o":"createdAt:DESC","v":"2030-01-01T00:00:00+20:00","i":1}"#,
            StatusCode::OK,
        ),
        (
            "q=wind&sortBy=relevance&order=DESC",
            r#"{"o":"relevance:DESC","v":"1e-400","i":1}"#,
            StatusCode::OK,
        ),
    ] {
        let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(made_up);
        let answer = app
            .anon()
            .get(&format!("/api/products?{order}&after={cursor}"))
            .await;
        assert_eq!(answer.status, status, "{made_up}: {}", answer.text());
    }
}

#[tokio::test]
async fn every_list_says_whether_more_follow_and_where() {
    let app = TestApp::seeded_with_admin().await;
    let (categories, pages) = follow(&app, "/api/categories?limit=2").await;
    assert_eq!((categories, pages), (vec![1, 2, 3, 4, 5], 3));
    let (tags, pages) = follow(&app, "/api/tags?limit=3&products=false").await;
    assert_eq!((tags.len(), pages), (8, 3));
    let (_, token) = app
        .quick_account("olga@example.com", emporium::domain::Role::Customer)
        .await;
    for _ in 0..3 {
        let placed = app
            .user(&token)
            .post(
                "/api/orders",
                json!({"items": [{"product_id": 4, "quantity": 1}]}),
            )
            .await;
        assert_eq!(placed.status, StatusCode::CREATED);
    }
    let (mine, pages) = follow_as(&app, Some(&token), "/api/orders?limit=2").await;
    assert_eq!(pages, 2);
    assert!(
        mine.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first: {mine:?}"
    );
    let admin = app.admin_token();
    let (all, _) = follow_as(&app, Some(admin), "/api/orders?limit=1&status=placed").await;
    assert_eq!(all, mine);
}

/// `GET path` from `client`, as a trusted proxy on 127.0.0.1 forwards it.
async fn get_from(app: &TestApp, client: &str, path: &str) -> Value {
    let mut request = axum::http::Request::get(path)
        .header("x-forwarded-for", client)
        .body(axum::body::Body::empty())
        .unwrap();
    let peer: std::net::SocketAddr = "127.0.0.1:40000".parse().unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    let answer = app.anon().send_request(request).await;
    assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text());
    answer.json()
}

#[tokio::test]
async fn an_ipv6_client_s_searches_are_kept_within_one_budget_for_its_whole_network() {
    let app = TestApp::with_config(|config| {
        config.cache_limits.open_queries_per_client = 2;
        config.trusted_proxies = emporium::config::TrustedProxies::parse("127.0.0.1").unwrap();
    })
    .await;
    app.seed().await;
    // Four searches, each from another address of one /64 (a subscriber's
    // block, whose addresses its owner may switch between at will).
    let searches: Vec<String> = (1..=4)
        .map(|n| format!("/api/products?q=sock{n}"))
        .collect();
    for (n, search) in searches.iter().enumerate() {
        get_from(&app, &format!("2001:db8:1:2::{}", n + 1), search).await;
    }
    let mut kept = 0;
    for search in &searches {
        if get_from(&app, "2001:db8:1:2::9", search).await["source"] == "redis" {
            kept += 1;
        }
    }
    assert_eq!(kept, 2, "one network's budget is two documents");
    // Another network has a budget of its own.
    let other = "/api/products?q=sock5";
    get_from(&app, "2001:db8:1:3::1", other).await;
    assert_eq!(
        get_from(&app, "2001:db8:1:3::1", other).await["source"],
        "redis"
    );
}

#[tokio::test]
async fn the_networks_of_one_ipv6_site_add_to_the_cache_within_one_budget_for_the_site() {
    let app = TestApp::with_config(|config| {
        config.cache_limits.open_queries_per_client = 1;
        config.trusted_proxies = emporium::config::TrustedProxies::parse("127.0.0.1").unwrap();
    })
    .await;
    app.seed().await;
    // Twenty networks of one /48, a search each: the site's budget is
    // sixteen networks' worth.
    let searched: Vec<(String, String)> = (0..20)
        .map(|n| {
            let client = format!("2001:db8:9:{n:x}::1");
            (client, format!("/api/products?q=shirt{n}"))
        })
        .collect();
    for (client, search) in &searched {
        get_from(&app, client, search).await;
    }
    let mut kept = 0;
    for (client, search) in &searched {
        if get_from(&app, client, search).await["source"] == "redis" {
            kept += 1;
        }
    }
    assert_eq!(kept, 16, "one site's budget is sixteen documents");
    // A network of another site has a budget of its own.
    let other = "/api/products?q=shirt99";
    get_from(&app, "2001:db8:a:1::1", other).await;
    assert_eq!(
        get_from(&app, "2001:db8:a:1::1", other).await["source"],
        "redis"
    );
}

#[tokio::test]
async fn the_next_link_the_openapi_document_shows_is_one_the_list_takes() {
    let app = TestApp::seeded().await;
    let document = app.client(None).get("/api/openapi.json").await.text();
    let start = document
        .find("/api/products?")
        .expect("an example next link");
    let example: String = document[start..]
        .chars()
        .take_while(|c| *c != '"')
        .collect();
    assert!(example.contains("after="), "{example}");
    let page = app.client(None).get(&example).await;
    assert_eq!(page.status, StatusCode::OK, "{example}: {}", page.text());
    assert_eq!(page.json()["page"], 2, "{example}");
}
