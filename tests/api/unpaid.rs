//! Orders left unpaid: cancelled on their owner's behalf once
//! `UNPAID_ORDER_HOURS` have passed, their stock back on sale; an order
//! paid meanwhile stays paid, and the stock comes back once.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use diesel::sql_types::{Array, Int4, Text};
use diesel_async::RunQueryDsl;
use emporium::domain::Role;
use emporium::orders::unpaid::cancel_unpaid;
use serde_json::json;

use crate::helpers::TestApp;
use crate::orders::{order, stock_of};

const A_DAY: Duration = Duration::from_secs(24 * 3600);

/// Places an order of one unit of product 2 for `token`; answers its id.
async fn one_of_product_2(app: &TestApp, token: &str) -> i64 {
    let placed = order(
        app,
        token,
        Some(json!({"items": [{"product_id": 2, "quantity": 1}]})),
        None,
    )
    .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    placed.json()["data"]["id"].as_i64().unwrap()
}

/// Makes orders `ids` look placed 25 hours ago.
async fn placed_a_day_ago(app: &TestApp, ids: &[i64]) {
    let ids: Vec<i32> = ids.iter().map(|id| i32::try_from(*id).unwrap()).collect();
    diesel::sql_query(
        "UPDATE orders SET created_at = now() - interval '25 hours' WHERE id = ANY($1)",
    )
    .bind::<Array<Int4>, _>(ids)
    .execute(&mut app.db().await)
    .await
    .unwrap();
}

async fn status_of(app: &TestApp, id: i64) -> String {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        status: String,
    }
    diesel::sql_query("SELECT status FROM orders WHERE id = $1")
        .bind::<Int4, _>(i32::try_from(id).unwrap())
        .get_result::<Row>(&mut app.db().await)
        .await
        .unwrap()
        .status
}

#[tokio::test]
async fn an_order_left_unpaid_for_a_day_is_cancelled_on_its_owner_s_behalf_and_its_stock_goes_back()
{
    let app = TestApp::seeded_with_admin().await;
    let (_, token) = app.quick_account("una@example.com", Role::Customer).await;
    let before = stock_of(&app, 2).await;
    let unpaid = one_of_product_2(&app, &token).await;
    let paid = one_of_product_2(&app, &token).await;
    let fresh = one_of_product_2(&app, &token).await;
    let pay = app
        .admin()
        .send_json(
            Method::PATCH,
            &format!("/api/orders/{paid}"),
            json!({"status": "paid"}),
        )
        .await;
    assert_eq!(pay.status, StatusCode::OK, "{}", pay.text());
    placed_a_day_ago(&app, &[unpaid, paid]).await;
    // The product's page, cached with the stock the orders left.
    app.anon().get("/api/products/2").await;
    let cached = app.anon().get("/api/products/2").await.json();
    assert_eq!(cached["source"], "redis");
    assert_eq!(cached["data"]["stock"], before - 3);

    assert_eq!(cancel_unpaid(&app.state, A_DAY).await.unwrap(), 1);

    assert_eq!(status_of(&app, unpaid).await, "cancelled");
    assert_eq!(status_of(&app, paid).await, "paid");
    assert_eq!(status_of(&app, fresh).await, "placed");
    assert_eq!(stock_of(&app, 2).await, before - 2);
    let page = app.anon().get("/api/products/2").await.json();
    assert_eq!(
        page["data"]["stock"],
        before - 2,
        "the cached page is retired"
    );
    // Its owner sees it cancelled, and when.
    let seen = app
        .client(Some(&token))
        .get(&format!("/api/orders/{unpaid}"))
        .await
        .json();
    assert_eq!(seen["data"]["status"], "cancelled");
    let history = seen["data"]["history"].as_array().unwrap();
    assert_eq!(history.last().unwrap()["status"], "cancelled");
    // A second round finds nothing left to cancel.
    assert_eq!(cancel_unpaid(&app.state, A_DAY).await.unwrap(), 0);
    assert_eq!(stock_of(&app, 2).await, before - 2);
}

/// Two nodes' janitors and an admin paying the same orders, all at once:
/// each order ends paid or cancelled, each cancellation is counted by the
/// one janitor that made it, and the stock comes back for those alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unpaid_orders_paid_while_two_janitors_cancel_them_end_paid_or_cancelled_with_the_stock_counted_once()
 {
    let app = Arc::new(TestApp::seeded_with_admin().await);
    let (_, token) = app.quick_account("vic@example.com", Role::Customer).await;
    let before = stock_of(&app, 2).await;
    let mut ids = Vec::new();
    for _ in 0..16 {
        ids.push(one_of_product_2(&app, &token).await);
    }
    placed_a_day_ago(&app, &ids).await;
    // Each on a task of its own, on four threads. The janitors go from the
    // oldest id up, the admin from the newest down: they meet somewhere in
    // between.
    let janitor = || {
        let state = app.state.clone();
        tokio::spawn(async move { cancel_unpaid(&state, A_DAY).await })
    };
    let (first, second) = (janitor(), janitor());
    let payments = tokio::spawn({
        let (app, ids) = (app.clone(), ids.clone());
        async move {
            let mut paid = 0usize;
            for id in ids.iter().rev() {
                let path = format!("/api/orders/{id}");
                let answer = app
                    .admin()
                    .send_json(Method::PATCH, &path, json!({"status": "paid"}))
                    .await;
                match answer.status {
                    StatusCode::OK => paid += 1,
                    StatusCode::CONFLICT => {}
                    _ => panic!("{}", answer.text()),
                }
            }
            paid
        }
    });
    let (first, second, paid) = (
        first.await.unwrap(),
        second.await.unwrap(),
        payments.await.unwrap(),
    );
    let cancelled = first.unwrap() + second.unwrap();
    assert!(
        cancelled > 0 && paid > 0,
        "the janitors and the admin met: {cancelled} cancelled, {paid} paid"
    );
    assert_eq!(cancelled + paid, ids.len(), "each order moved once");
    let mut statuses = Vec::new();
    for id in &ids {
        statuses.push(status_of(&app, *id).await);
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|status| *status == "cancelled")
            .count(),
        cancelled
    );
    assert_eq!(
        statuses.iter().filter(|status| *status == "paid").count(),
        paid
    );
    assert_eq!(
        stock_of(&app, 2).await,
        before - ids.len() as i64 + cancelled as i64
    );
}
