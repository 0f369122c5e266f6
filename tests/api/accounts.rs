//! Accounts as shoppers expect them: sign-up starts a session, renaming,
//! a password change that ends every other session, signing out
//! everywhere, and the list of one's sessions with revocation. Every
//! revocation is instant, on every instance (the Redis session keys).

use axum::http::{Method, StatusCode};
use emporium::domain::Role;
use serde_json::{Value, json};

use crate::harness::ThrowawayRedis;
use crate::helpers::{TEST_PASSWORD, TestApp, TestResponse};

async fn sign_in(app: &TestApp, email: &str, password: &str, agent: &str) -> TestResponse {
    let body = json!({"email": email, "password": password}).to_string();
    app.anon()
        .send(
            Method::POST,
            "/api/auth/signin",
            Some(body.into()),
            &[("content-type", "application/json"), ("user-agent", agent)],
        )
        .await
}

async fn token_of(app: &TestApp, email: &str, password: &str, agent: &str) -> String {
    let answer = sign_in(app, email, password, agent).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer.json()["data"]["token"].as_str().unwrap().to_owned()
}

async fn status_of_me(app: &TestApp, token: &str) -> StatusCode {
    app.user(token).get("/api/auth/me").await.status
}

/// Waits until `token`'s session is over (ended by work in the background),
/// 10 s at most; else fails saying `what`.
async fn until_ended(app: &TestApp, token: &str, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while status_of_me(app, token).await != StatusCode::UNAUTHORIZED {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn sessions_of(app: &TestApp, token: &str) -> Vec<Value> {
    let listed = app.user(token).get("/api/auth/sessions").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text());
    listed.json()["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn sign_up_answers_the_user_and_a_working_session_at_once() {
    let app = TestApp::spawn().await;
    let body = json!({"email": "Ann@Example.com", "password": "long enough", "name": "Ann"});
    let created = app
        .anon()
        .send(
            Method::POST,
            "/api/auth/signup",
            Some(body.to_string().into()),
            &[
                ("content-type", "application/json"),
                ("user-agent", "phone/1.0"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let data = created.json()["data"].clone();
    assert_eq!(data["email"], "Ann@Example.com");
    assert_eq!(
        (data["name"].clone(), data["role"].clone()),
        (json!("Ann"), json!("customer"))
    );
    assert_eq!(data["token_type"], "Bearer");
    assert!(data["expires_at"].is_string() && data["id"].is_number());
    assert!(data.get("password_hash").is_none());
    let token = data["token"].as_str().unwrap();
    let me = app.user(token).get("/api/auth/me").await.json();
    assert_eq!(me["data"]["id"], data["id"]);
    let sessions = sessions_of(&app, token).await;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[0]["user_agent"], "phone/1.0");
}

#[tokio::test]
async fn a_user_renames_themselves_and_a_bad_name_changes_nothing() {
    let app = TestApp::spawn().await;
    let (_, token) = app.quick_account("bob@example.com", Role::Customer).await;
    let renamed = app
        .user(&token)
        .put("/api/auth/me", json!({"name": "  Robert  "}))
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text());
    assert_eq!(renamed.json()["data"]["name"], "Robert");
    assert_eq!(renamed.json()["data"]["email"], "bob@example.com");
    let refused = app
        .user(&token)
        .put("/api/auth/me", json!({"name": "", "role": "admin"}))
        .await;
    let problem = refused.problem(422);
    assert!(
        problem["errors"]["name"].is_array() && problem["errors"]["role"].is_array(),
        "{problem}"
    );
    let me = app.user(&token).get("/api/auth/me").await.json();
    assert_eq!(
        (me["data"]["name"].clone(), me["data"]["role"].clone()),
        (json!("Robert"), json!("customer"))
    );
    app.anon()
        .put("/api/auth/me", json!({"name": "X"}))
        .await
        .problem(401);
}

#[tokio::test]
async fn a_password_change_names_a_wrong_current_password_and_a_weak_new_one_at_once() {
    let app = TestApp::spawn().await;
    let (_, token) = app.quick_account("di@example.com", Role::Customer).await;
    let change = async |current: &str, new: &str| {
        let body = json!({"current_password": current, "new_password": new});
        app.user(&token).post("/api/auth/password", body).await
    };
    let both = change("nope", "short").await.field_error("new_password");
    assert!(both["errors"].get("current_password").is_some(), "{both}");
    // The right current password with a weak new one: only the new one.
    let weak = change(TEST_PASSWORD, "short")
        .await
        .field_error("new_password");
    assert!(weak["errors"].get("current_password").is_none(), "{weak}");
    // Neither changed anything.
    token_of(&app, "di@example.com", TEST_PASSWORD, "x").await;
}

/// A stolen token cannot guess the password: a session that sends a fifth
/// wrong current password (with a weak new one or a good one, nothing
/// changing either way) is ended; the account's other sessions and its
/// password stay, and its owner signs in again with the password.
#[tokio::test]
async fn a_session_that_keeps_sending_wrong_current_passwords_is_ended() {
    let app = TestApp::spawn().await;
    let (_, stolen) = app.quick_account("eve@example.com", Role::Customer).await;
    let owners = token_of(&app, "eve@example.com", TEST_PASSWORD, "phone").await;
    let guess = async |n: usize| {
        // Guesses alternate: with a weak new password (nothing would
        // change) and with a good one.
        let new = if n.is_multiple_of(2) {
            "short"
        } else {
            "a new long password"
        };
        let body = json!({"current_password": format!("guess {n}"), "new_password": new});
        app.user(&stolen).post("/api/auth/password", body).await
    };
    for n in 0..4 {
        let wrong = guess(n).await;
        assert_eq!(
            wrong.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            wrong.text()
        );
        assert!(
            wrong.json()["errors"]["current_password"].is_array(),
            "{}",
            wrong.text()
        );
    }
    let ended = guess(4).await;
    ended.problem(401);
    assert_eq!(status_of_me(&app, &stolen).await, StatusCode::UNAUTHORIZED);
    // The right password from this token is too late.
    let late = app
        .user(&stolen)
        .post(
            "/api/auth/password",
            json!({"current_password": TEST_PASSWORD, "new_password": "a new long password"}),
        )
        .await;
    late.problem(401);
    assert_eq!(status_of_me(&app, &owners).await, StatusCode::OK);
    token_of(&app, "eve@example.com", TEST_PASSWORD, "laptop").await;
}

/// Guesses sent at once are bounded as well: each is counted before its
/// hash, so once four are wrong, a right one among the next ones sent
/// together is refused with the rest and changes nothing.
#[tokio::test]
async fn guesses_of_the_current_password_sent_at_once_are_counted_before_they_are_checked() {
    let app = TestApp::spawn().await;
    let (_, stolen) = app.quick_account("fay@example.com", Role::Customer).await;
    let change = |current: &str| {
        let body = json!({"current_password": current, "new_password": "a new long password"});
        let client = app.user(&stolen);
        async move { client.post("/api/auth/password", body).await }
    };
    for n in 0..4 {
        change(&format!("guess {n}"))
            .await
            .field_error("current_password");
    }
    let mut at_once: Vec<_> = (4..9).map(|n| change(&format!("guess {n}"))).collect();
    at_once.push(change(TEST_PASSWORD));
    let answers = futures_util::future::join_all(at_once).await;
    for answer in &answers {
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text());
    }
    // The password is as it was.
    token_of(&app, "fay@example.com", TEST_PASSWORD, "phone").await;
}

#[tokio::test]
async fn a_password_change_ends_every_other_session_at_once_on_every_instance() {
    let app = TestApp::spawn().await;
    let other_node = app.second_instance();
    let (_, first) = app.quick_account("cy@example.com", Role::Customer).await;
    let laptop = token_of(&app, "cy@example.com", TEST_PASSWORD, "laptop").await;
    let phone = token_of(&other_node, "cy@example.com", TEST_PASSWORD, "phone").await;
    // A wrong current password: 422 naming it, and nothing ends.
    let wrong = app
        .user(&laptop)
        .post(
            "/api/auth/password",
            json!({"current_password": "nope", "new_password": "a new long password"}),
        )
        .await;
    wrong.field_error("current_password");
    let weak = app
        .user(&laptop)
        .post(
            "/api/auth/password",
            json!({"current_password": TEST_PASSWORD, "new_password": "short"}),
        )
        .await;
    weak.field_error("new_password");
    assert_eq!(status_of_me(&other_node, &phone).await, StatusCode::OK);
    let changed = app
        .user(&laptop)
        .post(
            "/api/auth/password",
            json!({"current_password": TEST_PASSWORD, "new_password": "a new long password"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text());
    // At once, on either instance: the others are dead, the caller's lives.
    for node in [&app, &other_node] {
        assert_eq!(status_of_me(node, &phone).await, StatusCode::UNAUTHORIZED);
        assert_eq!(status_of_me(node, &first).await, StatusCode::UNAUTHORIZED);
        assert_eq!(status_of_me(node, &laptop).await, StatusCode::OK);
    }
    sign_in(&app, "cy@example.com", TEST_PASSWORD, "x")
        .await
        .problem(401);
    token_of(&app, "cy@example.com", "a new long password", "x").await;
}

/// Holds every commit that updates `users` until [`let_commits_go`]:
/// answers the gate, a connection that holds the advisory lock they wait
/// for.
async fn holding_user_commits(app: &TestApp) -> diesel_async::AsyncPgConnection {
    use diesel_async::RunQueryDsl;
    app.at_commits_on(
        "users",
        "UPDATE",
        "held_change",
        "PERFORM pg_advisory_xact_lock(4242)",
    )
    .await;
    let mut gate = app.db().await;
    diesel::sql_query("SELECT pg_advisory_lock(4242)")
        .execute(&mut gate)
        .await
        .unwrap();
    gate
}

/// Opens the gate of [`holding_user_commits`], once a commit waits at it.
async fn let_commits_go(app: &TestApp, gate: &mut diesel_async::AsyncPgConnection) {
    use diesel_async::RunQueryDsl;
    app.until_counted(
        "pg_stat_activity WHERE datname = current_database() AND wait_event = 'advisory'",
    )
    .await;
    diesel::sql_query("SELECT pg_advisory_unlock(4242)")
        .execute(gate)
        .await
        .unwrap();
}

/// Starts a password change of `email`'s account from `token`, and signs in
/// with the old password while the change's commit is held (a trigger
/// makes it wait for a lock this test holds until the sign-in is in): the
/// sign-in checks the old hash and opens a session the change's first
/// ending of sessions cannot know. Answers the change's answer, once
/// `meanwhile` has run after that sign-in, and the sign-in's token.
async fn a_sign_in_during_a_password_change(
    app: &TestApp,
    email: &str,
    token: &str,
    meanwhile: impl FnOnce(),
) -> (TestResponse, String) {
    let mut gate = holding_user_commits(app).await;
    let body = json!({"current_password": TEST_PASSWORD, "new_password": "a new long password"});
    let client = app.user(token);
    let change = client.post("/api/auth/password", body);
    let late = async {
        app.until_counted(
            "pg_stat_activity WHERE datname = current_database() AND wait_event = 'advisory'",
        )
        .await;
        let late = token_of(app, email, TEST_PASSWORD, "late").await;
        meanwhile();
        let_commits_go(app, &mut gate).await;
        late
    };
    tokio::join!(change, late)
}

#[tokio::test]
async fn a_session_signed_in_with_the_old_password_while_it_changes_is_ended_too() {
    let app = TestApp::spawn().await;
    let (_, desk) = app.quick_account("jo@example.com", Role::Customer).await;
    let (changed, late) =
        a_sign_in_during_a_password_change(&app, "jo@example.com", &desk, || {}).await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text());
    assert_eq!(status_of_me(&app, &late).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_of_me(&app, &desk).await, StatusCode::OK);
}

#[tokio::test]
async fn a_password_change_that_cannot_end_a_late_session_says_it_is_changed_and_what_is_left() {
    let redis = ThrowawayRedis::start(&[]);
    let app = TestApp::with_config(|config| config.redis_url = redis.url().into()).await;
    let (_, desk) = app.quick_account("kit@example.com", Role::Customer).await;
    // Redis deletes no key once the late sign-in is in: the second ending
    // of sessions, after the commit, fails.
    let (changed, late) =
        a_sign_in_during_a_password_change(&app, "kit@example.com", &desk, || redis.refuse("del"))
            .await;
    redis.allow("del");
    let problem = changed.problem(503);
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("password is changed"), "{detail}");
    assert!(detail.contains("/api/auth/signout-all"), "{detail}");
    // It is changed: the old password is refused, the new one works.
    sign_in(&app, "kit@example.com", TEST_PASSWORD, "x")
        .await
        .problem(401);
    token_of(&app, "kit@example.com", "a new long password", "x").await;
    // What the 503 asks for ends the late session.
    let out = app
        .user(&desk)
        .request(Method::POST, "/api/auth/signout-all")
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.text());
    assert_eq!(status_of_me(&app, &late).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_password_change_whose_client_leaves_at_its_commit_still_ends_a_late_session() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let (id, desk) = app.quick_account("lu@example.com", Role::Customer).await;
    let before = app
        .strings(&format!("SELECT password_hash FROM users WHERE id = {id}"))
        .await
        .remove(0);
    // The change's commit held until the gate opens.
    let mut gate = holding_user_commits(&app).await;
    let changing = {
        let (app, desk) = (app.clone(), desk.clone());
        tokio::spawn(async move {
            let body =
                json!({"current_password": TEST_PASSWORD, "new_password": "a new long password"});
            app.user(&desk).post("/api/auth/password", body).await
        })
    };
    app.until_counted(
        "pg_stat_activity WHERE datname = current_database() AND wait_event = 'advisory'",
    )
    .await;
    // Signed in with the old password while the change commits; then the
    // changing client leaves, and the commit lands.
    let late = token_of(&app, "lu@example.com", TEST_PASSWORD, "late").await;
    changing.abort();
    let_commits_go(&app, &mut gate).await;
    app.until_counted(&format!(
        "users WHERE id = {id} AND password_hash <> '{before}'"
    ))
    .await;
    // The change's second ending of sessions still ran: the late session,
    // signed in with a password no longer the account's, is over.
    until_ended(
        &app,
        &late,
        "a session signed in with the old password outlived the change",
    )
    .await;
    token_of(&app, "lu@example.com", "a new long password", "x").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn past_the_bound_of_sessions_opening_one_ends_the_oldest() {
    use emporium::auth::sessions::MAX_SESSIONS_PER_USER;
    let app = TestApp::with_config(|config| {
        config.auth_rate_limit.per_email = 1000;
        config.auth_rate_limit.per_address = 1000;
    })
    .await;
    let (_, oldest) = app.quick_account("max@example.com", Role::Customer).await;
    // A second later (`created_at` is in seconds), as many sessions again
    // as the bound, four sign-ins at a time.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut tokens = Vec::new();
    for _ in 0..MAX_SESSIONS_PER_USER / 4 {
        let four = (0..4).map(|_| token_of(&app, "max@example.com", TEST_PASSWORD, "again"));
        tokens.extend(futures_util::future::join_all(four).await);
    }
    // The oldest ended (in the background, once the sign-in was sure); the
    // bound's worth of the newest live, and listed.
    until_ended(&app, &oldest, "the oldest session lives on").await;
    let newest = tokens.last().unwrap();
    assert_eq!(status_of_me(&app, newest).await, StatusCode::OK);
    assert_eq!(status_of_me(&app, &tokens[0]).await, StatusCode::OK);
    assert_eq!(sessions_of(&app, newest).await.len(), MAX_SESSIONS_PER_USER);
    // A sign-out everywhere still ends all of them.
    let out = app
        .user(newest)
        .request(Method::POST, "/api/auth/signout-all")
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.text());
    assert_eq!(
        status_of_me(&app, &tokens[0]).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn of_two_password_changes_at_once_one_wins_and_its_session_lives() {
    let app = TestApp::spawn().await;
    app.quick_account("ida@example.com", Role::Customer).await;
    let desk = token_of(&app, "ida@example.com", TEST_PASSWORD, "desk").await;
    let phone = token_of(&app, "ida@example.com", TEST_PASSWORD, "phone").await;
    let change = |token: &str, new_password: &str| {
        let body = json!({"current_password": TEST_PASSWORD, "new_password": new_password});
        let (app, token) = (&app, token.to_owned());
        async move { app.user(&token).post("/api/auth/password", body).await }
    };
    let (from_desk, from_phone) = tokio::join!(
        change(&desk, "the desk's new password"),
        change(&phone, "the phone's new password")
    );
    let statuses = [from_desk.status, from_phone.status];
    let won: Vec<bool> = statuses
        .iter()
        .map(|status| *status == StatusCode::NO_CONTENT)
        .collect();
    assert_eq!(
        won.iter().filter(|won| **won).count(),
        1,
        "{statuses:?}: {} / {}",
        from_desk.text(),
        from_phone.text()
    );
    // The loser was told its password was not current, or was signed out.
    let lost = if won[0] { &from_phone } else { &from_desk };
    assert!(
        [StatusCode::UNPROCESSABLE_ENTITY, StatusCode::UNAUTHORIZED].contains(&lost.status),
        "{}",
        lost.text()
    );
    let (winner, loser, password) = if won[0] {
        (&desk, &phone, "the desk's new password")
    } else {
        (&phone, &desk, "the phone's new password")
    };
    assert_eq!(status_of_me(&app, winner).await, StatusCode::OK);
    assert_eq!(status_of_me(&app, loser).await, StatusCode::UNAUTHORIZED);
    token_of(&app, "ida@example.com", password, "x").await;
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_of_the_user_only() {
    let app = TestApp::spawn().await;
    let other_node = app.second_instance();
    let (_, first) = app.quick_account("di@example.com", Role::Customer).await;
    let second = token_of(&other_node, "di@example.com", TEST_PASSWORD, "tablet").await;
    let (_, someone_else) = app.quick_account("ed@example.com", Role::Customer).await;
    let out = app
        .user(&first)
        .request(Method::POST, "/api/auth/signout-all")
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.text());
    for node in [&app, &other_node] {
        assert_eq!(status_of_me(node, &first).await, StatusCode::UNAUTHORIZED);
        assert_eq!(status_of_me(node, &second).await, StatusCode::UNAUTHORIZED);
        assert_eq!(status_of_me(node, &someone_else).await, StatusCode::OK);
    }
    // A new sign-in works as before.
    let again = token_of(&app, "di@example.com", TEST_PASSWORD, "tablet").await;
    assert_eq!(sessions_of(&app, &again).await.len(), 1);
}

#[tokio::test]
async fn signing_out_everywhere_that_fails_half_way_ends_every_session_when_retried() {
    let redis = ThrowawayRedis::start(&[]);
    let app = TestApp::with_config(|config| config.redis_url = redis.url().into()).await;
    let (_, first) = app.quick_account("gu@example.com", Role::Customer).await;
    let second = token_of(&app, "gu@example.com", TEST_PASSWORD, "tablet").await;
    // Redis deletes no key: the call fails once it has begun.
    redis.refuse("del");
    app.user(&first)
        .request(Method::POST, "/api/auth/signout-all")
        .await
        .problem(503);
    redis.allow("del");
    // The retry the 503 asks for ends what the first call did not.
    let retried = app
        .user(&first)
        .request(Method::POST, "/api/auth/signout-all")
        .await;
    assert_eq!(retried.status, StatusCode::NO_CONTENT, "{}", retried.text());
    assert_eq!(status_of_me(&app, &first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_of_me(&app, &second).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_sign_in_that_fails_after_its_session_was_written_leaves_no_session_behind() {
    let redis = ThrowawayRedis::start(&[]);
    let app = TestApp::with_config(|config| config.redis_url = redis.url().into()).await;
    let (_, desk) = app.quick_account("vi@example.com", Role::Customer).await;
    // Redis answers no `HMGET`: the last step of opening a session, after
    // its key was written, fails.
    redis.refuse("hmget");
    sign_in(&app, "vi@example.com", TEST_PASSWORD, "failed")
        .await
        .problem(503);
    redis.allow("hmget");
    // Its token was never handed out: no session of it lives, or is listed.
    let listed = sessions_of(&app, &desk).await;
    let agents: Vec<&Value> = listed
        .iter()
        .map(|session| &session["user_agent"])
        .collect();
    assert_eq!(listed.len(), 1, "{agents:?}");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}user:token:*", app.redis_prefix))
        .query_async(
            &mut redis::Client::open(redis.url())
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
}

#[tokio::test]
async fn the_sessions_list_names_each_live_session_and_one_can_be_revoked_at_once() {
    let app = TestApp::spawn().await;
    let other_node = app.second_instance();
    app.quick_account("fi@example.com", Role::Customer).await;
    let desk = token_of(&app, "fi@example.com", TEST_PASSWORD, "desk/2.0").await;
    let phone = token_of(&app, "fi@example.com", TEST_PASSWORD, "phone/1.0").await;
    let listed = sessions_of(&app, &desk).await;
    // quick_account's own session, the desk's and the phone's; newest first.
    assert_eq!(listed.len(), 3, "{listed:?}");
    let current: Vec<&Value> = listed
        .iter()
        .filter(|session| session["current"] == true)
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["user_agent"], "desk/2.0");
    for session in &listed {
        assert!(session["created_at"].is_string() && session["last_used_at"].is_string());
    }
    let phone_id = listed
        .iter()
        .find(|session| session["user_agent"] == "phone/1.0")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another user cannot end it: 404, and it lives on.
    let (_, stranger) = app.quick_account("gil@example.com", Role::Customer).await;
    app.user(&stranger)
        .delete(&format!("/api/auth/sessions/{phone_id}"))
        .await
        .problem(404);
    assert_eq!(status_of_me(&app, &phone).await, StatusCode::OK);
    let revoked = app
        .user(&desk)
        .delete(&format!("/api/auth/sessions/{phone_id}"))
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text());
    for node in [&app, &other_node] {
        assert_eq!(status_of_me(node, &phone).await, StatusCode::UNAUTHORIZED);
        assert_eq!(status_of_me(node, &desk).await, StatusCode::OK);
    }
    assert_eq!(sessions_of(&app, &desk).await.len(), 2);
    for unknown in [phone_id.as_str(), "abc", "00000000000000000000000000000000"] {
        app.user(&desk)
            .delete(&format!("/api/auth/sessions/{unknown}"))
            .await
            .problem(404);
    }
    // Signing out of one's own session removes it from the list.
    let out = app
        .user(&desk)
        .request(Method::POST, "/api/auth/signout")
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let fresh = token_of(&app, "fi@example.com", TEST_PASSWORD, "desk/2.0").await;
    let mut after: Vec<String> = sessions_of(&app, &fresh)
        .await
        .iter()
        .map(|session| session["user_agent"].as_str().unwrap_or("").to_owned())
        .collect();
    after.sort();
    assert_eq!(after, ["desk/2.0", "emporium-tests"]);
}

#[tokio::test]
async fn entries_of_sessions_that_expired_are_dropped_as_new_ones_open() {
    let app = TestApp::spawn().await;
    let (user_id, _) = app.quick_account("eve@example.com", Role::Customer).await;
    // Four sessions that expired on their own minutes ago (nobody signed
    // out, nobody read the list); the first one lives an hour.
    let expired = chrono::Utc::now().timestamp() - 900;
    for n in 0..4 {
        let claims = emporium::jwt::Claims {
            sub: user_id.to_string(),
            jti: format!("expired{n}"),
            role: Role::Customer,
            iat: expired - 3600,
            exp: expired,
            acct: None,
        };
        emporium::auth::sessions::open(&app.state, user_id, &claims, "old", None)
            .await
            .unwrap();
    }
    // The next opening drops their entries: two fields a session (its
    // entry, when it was last used) are left for the two that live.
    app.sign_in("eve@example.com", TEST_PASSWORD).await;
    let list = app
        .state
        .config
        .redis_key(format!("user:sessions:{user_id}"));
    let fields: i64 = app
        .state
        .redis
        .query(redis::cmd("HLEN").arg(&list))
        .await
        .unwrap();
    assert_eq!(fields, 4);
}

#[tokio::test]
async fn sessions_opened_before_sessions_were_listed_end_with_the_others() {
    let app = TestApp::spawn().await;
    let (user_id, token) = app.quick_account("hal@example.com", Role::Customer).await;
    let created_at = emporium::auth::queries::find_user(&mut app.db().await, user_id)
        .await
        .unwrap()
        .unwrap()
        .created_at;
    // Two sessions as an earlier version opened them: the key alone.
    let mut old_tokens = Vec::new();
    for _ in 0..2 {
        let (old, claims) = app
            .state
            .tokens
            .issue(
                (user_id, created_at),
                Role::Customer,
                std::time::Duration::from_secs(600),
            )
            .unwrap();
        let key = emporium::auth::sessions::session_key(&app.state, user_id, &claims.jti);
        let _: () = app
            .state
            .redis
            .query(redis::cmd("SET").arg(key).arg(&old).arg("EX").arg(600))
            .await
            .unwrap();
        old_tokens.push(old);
    }
    // One is used (and so listed); the other is listed by the start-up pass.
    assert_eq!(status_of_me(&app, &old_tokens[0]).await, StatusCode::OK);
    assert_eq!(sessions_of(&app, &token).await.len(), 2);
    emporium::auth::sessions::list_unlisted(&app.state)
        .await
        .unwrap();
    assert_eq!(sessions_of(&app, &token).await.len(), 3);
    let out = app
        .user(&token)
        .request(Method::POST, "/api/auth/signout-all")
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    for old in &old_tokens {
        assert_eq!(status_of_me(&app, old).await, StatusCode::UNAUTHORIZED);
    }
}
