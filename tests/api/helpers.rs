//! `TestApp`: the real router over a database of its own (cloned from a
//! migrated template) and a Redis key prefix of its own, both removed when
//! the test ends. Tests run in parallel; nothing is shared but the servers.
//!
//! `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! names a database on the server to administer from; `TEST_REDIS_URL`
//! (default `redis://127.0.0.1:6379`) the Redis. `TEST_LOG=1` shows the logs.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use emporium::auth::domain::NewAccount;
use emporium::auth::service::create_account;
use emporium::config::{Config, LogFormat};
use emporium::domain::Role;
use emporium::state::AppState;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// The password of accounts made by [`TestApp::new_account_token`].
pub const TEST_PASSWORD: &str = "test-password-123";
const TEST_DB_PREFIX: &str = "emporium_test_";
const TEMPLATE_PREFIX: &str = "emporium_template_";
/// Names the advisory lock under which the template is built.
const TEMPLATE_LOCK: i64 = 0x7465_6d70_6c61_7465;
/// Test databases older than this are leftovers of a killed run.
const LEFTOVER_AGE: Duration = Duration::from_secs(3600);

pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The URL of database `name` on the admin URL's server.
pub fn database_url(name: &str) -> String {
    let admin = admin_url();
    let (server, query) = match admin.split_once('?') {
        Some((server, query)) => (server.to_owned(), format!("?{query}")),
        None => (admin.clone(), String::new()),
    };
    let base = server
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(&server);
    format!("{base}/{name}{query}")
}

async fn admin_connection() -> AsyncPgConnection {
    AsyncPgConnection::establish(&admin_url())
        .await
        .unwrap_or_else(|error| panic!("cannot reach PostgreSQL at TEST_DATABASE_URL: {error}"))
}

/// The template's name changes whenever a migration does.
fn template_name() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<_> = walk(&root);
    files.sort();
    let mut bytes = Vec::new();
    for file in files {
        bytes.extend(file.strip_prefix(&root).unwrap().to_string_lossy().bytes());
        bytes.extend(std::fs::read(&file).unwrap());
    }
    format!(
        "{TEMPLATE_PREFIX}{:016x}",
        xxhash_rust::xxh3::xxh3_64(&bytes)
    )
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[derive(diesel::QueryableByName)]
struct DatabaseName {
    #[diesel(sql_type = Text)]
    datname: String,
}

async fn database_names(conn: &mut AsyncPgConnection, prefix: &str) -> Vec<String> {
    diesel::sql_query("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
        .bind::<Text, _>(prefix)
        .load::<DatabaseName>(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.datname)
        .collect()
}

/// Builds the migrated template once per template name, across processes.
async fn ensure_template() -> String {
    static READY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    READY
        .get_or_init(|| async {
            let name = template_name();
            let mut conn = admin_connection().await;
            diesel::sql_query("SELECT pg_advisory_lock($1)")
                .bind::<BigInt, _>(TEMPLATE_LOCK)
                .execute(&mut conn)
                .await
                .unwrap();
            let existing = database_names(&mut conn, TEMPLATE_PREFIX).await;
            if !existing.contains(&name) {
                let building = format!("{name}_building");
                execute(&mut conn, &format!("DROP DATABASE IF EXISTS {building}")).await;
                execute(&mut conn, &format!("CREATE DATABASE {building}")).await;
                emporium::db::run_migrations(&database_url(&building))
                    .await
                    .expect("migrations apply to an empty database");
                execute(
                    &mut conn,
                    &format!("ALTER DATABASE {building} RENAME TO {name}"),
                )
                .await;
            }
            // Templates of older migrations, and databases of killed runs.
            for old in existing.iter().filter(|old| **old != name) {
                let _ = try_execute(&mut conn, &format!("DROP DATABASE IF EXISTS {old}")).await;
            }
            let now = unix_seconds();
            for leftover in database_names(&mut conn, TEST_DB_PREFIX).await {
                let born = leftover[TEST_DB_PREFIX.len()..]
                    .split('_')
                    .next()
                    .and_then(|seconds| seconds.parse::<u64>().ok());
                if born.is_some_and(|born| now.saturating_sub(born) > LEFTOVER_AGE.as_secs()) {
                    let _ = try_execute(
                        &mut conn,
                        &format!("DROP DATABASE IF EXISTS {leftover} WITH (FORCE)"),
                    )
                    .await;
                }
            }
            diesel::sql_query("SELECT pg_advisory_unlock($1)")
                .bind::<BigInt, _>(TEMPLATE_LOCK)
                .execute(&mut conn)
                .await
                .unwrap();
            name
        })
        .await
        .clone()
}

async fn execute(conn: &mut AsyncPgConnection, sql: &str) {
    try_execute(conn, sql)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}

async fn try_execute(conn: &mut AsyncPgConnection, sql: &str) -> diesel::QueryResult<usize> {
    diesel::sql_query(sql).execute(conn).await
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            emporium::telemetry::init(LogFormat::Pretty);
        }
    });
}

/// Who sends a request: nobody ([`TestApp::anon`]) or the holder of a
/// token ([`TestApp::user`], [`TestApp::admin`]). Every request of a test
/// goes through one, so each says who sends it.
pub struct Client<'a> {
    app: &'a TestApp,
    token: Option<String>,
}

impl Client<'_> {
    /// Sends `request` with this client's `Authorization` (a request that
    /// names its own is sent as it is).
    pub async fn send_request(&self, mut request: Request<Body>) -> TestResponse {
        if let Some(token) = &self.token
            && !request.headers().contains_key(header::AUTHORIZATION)
        {
            let value = format!("Bearer {token}").parse().unwrap();
            request.headers_mut().insert(header::AUTHORIZATION, value);
        }
        self.app.send_request(request).await
    }

    /// Sends `method path` with these headers and body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut builder = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(body.unwrap_or_else(Body::empty)).unwrap();
        self.send_request(request).await
    }

    /// Sends `method path` with no body.
    pub async fn request(&self, method: Method, path: &str) -> TestResponse {
        self.send(method, path, None, &[]).await
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.request(Method::GET, path).await
    }

    pub async fn delete(&self, path: &str) -> TestResponse {
        self.request(Method::DELETE, path).await
    }

    pub async fn post(&self, path: &str, body: Value) -> TestResponse {
        self.send_json(Method::POST, path, body).await
    }

    pub async fn put(&self, path: &str, body: Value) -> TestResponse {
        self.send_json(Method::PUT, path, body).await
    }

    pub async fn send_json(&self, method: Method, path: &str, body: Value) -> TestResponse {
        let bytes = body.to_string().into_bytes();
        self.send_raw(method, path, bytes, "application/json").await
    }

    /// Sends `body` as it is, labelled `content_type`.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> TestResponse {
        let headers = [(header::CONTENT_TYPE.as_str(), content_type)];
        self.send(method, path, Some(Body::from(body)), &headers)
            .await
    }
}

/// A test's own service.
pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub database_name: String,
    /// Where the test's database is; dropped at the end when the test made
    /// it on the shared server.
    pub database_url: String,
    owns_database: bool,
    /// A second instance leaves the keys to the first, which may outlive it.
    owns_redis_prefix: bool,
    pub redis_prefix: String,
    /// The session of the admin made by [`TestApp::with_admin`], for [`TestApp::admin`].
    admin_token: Option<String>,
}

/// The configuration a test runs under, before [`TestApp::with_config`]:
/// every setting at its default but what a test needs to differ.
pub fn test_config(database_name: &str, redis_prefix: &str) -> Config {
    let settings: std::collections::HashMap<&str, String> = [
        ("DATABASE_URL", database_url(database_name)),
        ("REDIS_URL", redis_url()),
        (
            "JWT_SECRET",
            "test-secret-that-is-long-enough-for-hs256".to_owned(),
        ),
        ("BIND_ADDR", "127.0.0.1:0".to_owned()),
        ("REDIS_KEY_PREFIX", redis_prefix.to_owned()),
        ("DATABASE_POOL_SIZE", "8".to_owned()),
        ("DATABASE_CONNECT_TIMEOUT_MS", "10000".to_owned()),
        ("REDIS_TIMEOUT_MS", "500".to_owned()),
        ("REQUEST_TIMEOUT_SECONDS", "30".to_owned()),
        ("JWT_TTL_SECONDS", "3600".to_owned()),
        ("SEED_ADMIN_EMAIL", SEED_ADMIN_EMAIL.to_owned()),
        ("SEED_ADMIN_PASSWORD", SEED_ADMIN_PASSWORD.to_owned()),
        ("SEED_CUSTOMER_EMAIL", SEED_CUSTOMER_EMAIL.to_owned()),
        ("SEED_CUSTOMER_PASSWORD", SEED_CUSTOMER_PASSWORD.to_owned()),
    ]
    .into_iter()
    .collect();
    Config::from_source(&|name: &str| settings.get(name).cloned())
        .expect("the test configuration is valid")
}

pub const SEED_ADMIN_EMAIL: &str = "admin@emporium.test";
pub const SEED_ADMIN_PASSWORD: &str = "admin-password-123";
pub const SEED_CUSTOMER_EMAIL: &str = "customer@emporium.test";
pub const SEED_CUSTOMER_PASSWORD: &str = "customer-password-123";

impl TestApp {
    /// A fresh, migrated, empty catalog.
    pub async fn spawn() -> Self {
        Self::with_config(|_| {}).await
    }

    /// A fresh app whose configuration `adjust` may change first.
    pub async fn with_config(adjust: impl FnOnce(&mut Config)) -> Self {
        init_logs();
        let template = ensure_template().await;
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let database_name = format!("{TEST_DB_PREFIX}{}_{}", unix_seconds(), &unique[..12]);
        let mut conn = admin_connection().await;
        execute(
            &mut conn,
            &format!("CREATE DATABASE {database_name} TEMPLATE {template}"),
        )
        .await;
        let redis_prefix = format!("test:{}:", &unique[..12]);
        let mut config = test_config(&database_name, &redis_prefix);
        adjust(&mut config);
        let state = AppState::new(config).unwrap();
        Self {
            router: emporium::router::build(state.clone()),
            state,
            database_url: database_url(&database_name),
            database_name,
            owns_database: true,
            owns_redis_prefix: true,
            redis_prefix,
            admin_token: None,
        }
    }

    /// An app on a database of a throwaway cluster (`url` names it; it is
    /// created and migrated here, and goes with the cluster).
    pub async fn on_database(url: &str, adjust: impl FnOnce(&mut Config)) -> Self {
        init_logs();
        emporium::db::ensure_database(url).await.unwrap();
        emporium::db::run_migrations(url).await.unwrap();
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let redis_prefix = format!("test:{}:", &unique[..12]);
        let mut config = test_config("unused", &redis_prefix);
        config.database_url = url.to_owned().into();
        adjust(&mut config);
        let state = AppState::new(config).unwrap();
        Self {
            router: emporium::router::build(state.clone()),
            state,
            database_name: url.rsplit('/').next().unwrap_or_default().to_owned(),
            database_url: url.to_owned(),
            owns_database: false,
            owns_redis_prefix: true,
            redis_prefix,
            admin_token: None,
        }
    }

    /// Another instance of this app, as a second node behind a proxy would
    /// be: its own pool and Redis connections, on the same database and the
    /// same Redis key prefix. (The first instance cleans both up.)
    pub fn second_instance(&self) -> Self {
        self.second_instance_with(|_| {})
    }

    /// [`TestApp::second_instance`], configured apart by `adjust`.
    pub fn second_instance_with(&self, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = self.state.config.clone();
        adjust(&mut config);
        let state = AppState::new(config).unwrap();
        Self {
            router: emporium::router::build(state.clone()),
            state,
            database_name: self.database_name.clone(),
            database_url: self.database_url.clone(),
            owns_database: false,
            owns_redis_prefix: false,
            redis_prefix: self.redis_prefix.clone(),
            admin_token: None,
        }
    }

    /// A fresh app with a signed-in admin ([`TestApp::admin`]).
    pub async fn with_admin() -> Self {
        Self::spawn().await.and_admin().await
    }

    /// The demo catalog, with a signed-in admin ([`TestApp::admin`]).
    pub async fn seeded_with_admin() -> Self {
        let app = Self::with_admin().await;
        app.seed().await;
        app
    }

    /// This app with an admin account (`root@emporium.test`) signed in.
    pub async fn and_admin(mut self) -> Self {
        let token = self
            .new_account_token("root@emporium.test", Role::Admin)
            .await;
        self.admin_token = Some(token);
        self
    }

    /// Sends requests as nobody: no `Authorization` header.
    pub fn anon(&self) -> Client<'_> {
        Client {
            app: self,
            token: None,
        }
    }

    /// Sends requests with this bearer token.
    pub fn user(&self, token: &str) -> Client<'_> {
        Client {
            app: self,
            token: Some(token.to_owned()),
        }
    }

    /// Sends requests with this token, or as nobody.
    pub fn client(&self, token: Option<&str>) -> Client<'_> {
        Client {
            app: self,
            token: token.map(str::to_owned),
        }
    }

    /// Sends requests as the admin of [`TestApp::with_admin`].
    pub fn admin(&self) -> Client<'_> {
        self.user(self.admin_token())
    }

    /// The admin's session token (an app made with `TestApp::with_admin`).
    pub fn admin_token(&self) -> &str {
        self.admin_token
            .as_deref()
            .expect("this app has no admin: make it with TestApp::with_admin")
    }

    /// Creates an account directly (password `TEST_PASSWORD`) and signs it in
    /// through the API; returns the token.
    pub async fn new_account_token(&self, email: &str, role: Role) -> String {
        let mut conn = self.state.db.get().await.unwrap();
        let account =
            NewAccount::parse(email, TEST_PASSWORD.to_owned().into(), "Test Account", role)
                .unwrap();
        create_account(&mut conn, &self.state.hasher, account)
            .await
            .unwrap();
        drop(conn);
        self.sign_in(email, TEST_PASSWORD).await
    }

    /// A new customer (see [`TestApp::quick_account`]) who has placed an
    /// order of `items`; returns the customer's token.
    pub async fn customer_with_an_order(&self, email: &str, items: serde_json::Value) -> String {
        let (_, token) = self.quick_account(email, Role::Customer).await;
        let placed = self
            .user(&token)
            .post("/api/orders", serde_json::json!({ "items": items }))
            .await;
        assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
        token
    }

    /// An account made without the API: its row is inserted with a hash
    /// computed once per test process, and its session opened directly in
    /// Redis (as sign-in would). For tests that need many users quickly.
    /// Returns the user's id and a token.
    pub async fn quick_account(&self, email: &str, role: Role) -> (i32, String) {
        static HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
        let hash = HASH
            .get_or_init(|| async {
                self.state
                    .hasher
                    .hash_password(TEST_PASSWORD.to_owned().into())
                    .await
                    .unwrap()
            })
            .await;
        let mut conn = self.state.db.get().await.unwrap();
        let user = emporium::auth::queries::insert_user(
            &mut conn,
            &emporium::auth::models::NewUser {
                email,
                password_hash: hash,
                name: "Quick Account",
                role,
            },
        )
        .await
        .unwrap();
        drop(conn);
        let (token, claims) = self
            .state
            .tokens
            .issue(
                (user.id, user.created_at),
                role,
                std::time::Duration::from_secs(3600),
            )
            .unwrap();
        emporium::auth::sessions::open(
            &self.state,
            user.id,
            &claims,
            &token,
            Some("emporium-tests"),
        )
        .await
        .unwrap();
        (user.id, token)
    }

    /// Signs in through the API and returns the token.
    pub async fn sign_in(&self, email: &str, password: &str) -> String {
        let body = serde_json::json!({"email": email, "password": password});
        let response = self.anon().post("/api/auth/signin", body).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        response.json()["data"]["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The app with the demo catalog loaded.
    pub async fn seeded() -> Self {
        let app = Self::spawn().await;
        app.seed().await;
        app
    }

    pub async fn seed(&self) -> emporium::seed::SeedReport {
        emporium::seed::run(&self.state).await.unwrap().0
    }

    /// A connection to this test's database, for arranging and inspecting rows.
    pub async fn db(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.database_url)
            .await
            .unwrap()
    }

    /// Sends a request as it is, through the router (no server, no socket).
    async fn send_request(&self, request: Request<Body>) -> TestResponse {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        TestResponse {
            status,
            headers,
            body: body.to_vec(),
        }
    }

    /// Creates a product through the API and returns its id.
    pub async fn create_product(&self, body: Value) -> i32 {
        let response = self.admin().post("/api/products", body).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        response.json()["data"]["id"].as_i64().unwrap() as i32
    }

    /// Creates a category as the admin (201 asserted); answers its id.
    pub async fn create_category(&self, name: &str) -> i64 {
        let body = serde_json::json!({ "category_name": name });
        let response = self.admin().post("/api/categories", body).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        response.json()["data"]["id"].as_i64().unwrap()
    }

    /// Runs SQL statements on the test's database, as an operator would.
    pub async fn sql(&self, statements: &str) {
        use diesel_async::SimpleAsyncConnection;
        self.db().await.batch_execute(statements).await.unwrap();
    }

    /// Makes every commit that inserted or updated a row of `table` take a
    /// second (a deferred trigger sleeps), so that a test can act while a
    /// COMMIT is on its way.
    pub async fn slow_commits_on(&self, table: &str, event: &str) {
        self.at_commits_on(table, event, "slow_commit", "PERFORM pg_sleep(1)")
            .await;
    }

    /// Makes every commit that did `event` to a row of `table` run
    /// `statement` first (a deferred trigger named `name`): a sleep, or a
    /// wait for a lock the test holds.
    pub async fn at_commits_on(&self, table: &str, event: &str, name: &str, statement: &str) {
        self.sql(&format!(
            "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS \
               $$ BEGIN {statement}; RETURN NULL; END $$; \
             CREATE CONSTRAINT TRIGGER {name} AFTER {event} ON {table} \
               DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {name}();"
        ))
        .await;
    }

    /// Returns once a commit of this test's database sleeps in the trigger
    /// of [`TestApp::slow_commits_on`] (thirty seconds at most): a test that
    /// gives up a write or cuts its connection does it then, however long
    /// a busy machine took to get there.
    pub async fn until_a_commit_sleeps(&self) {
        self.until_counted(
            "pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'",
        )
        .await;
    }

    /// Returns once `SELECT count(*) FROM {table}` finds a row; fails when
    /// none comes within 30 seconds.
    pub async fn until_counted(&self, table: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.count(table).await == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "no row of {table} came within 30 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// How many namespaces the cache's `versions` records.
    pub async fn cache_versions_recorded(&self) -> i64 {
        let prefix = &self.state.config.redis_key_prefix;
        self.state
            .cache
            .redis()
            .query(redis::cmd("HLEN").arg(format!("{prefix}{{{prefix}cache}}:versions")))
            .await
            .unwrap()
    }

    /// Runs `command` (`HGET`, `HEXISTS`, `HDEL`...) on `field` of the
    /// cache's clock hash (docs/cache.md: `epoch`, `seq`, `lsn`).
    pub async fn on_cache_clock<T: redis::FromRedisValue>(&self, command: &str, field: &str) -> T {
        let prefix = &self.state.config.redis_key_prefix;
        self.state
            .cache
            .redis()
            .query(
                redis::cmd(command)
                    .arg(format!("{prefix}{{{prefix}cache}}:clock"))
                    .arg(field),
            )
            .await
            .unwrap()
    }

    /// Whether row `id` of `table` could be locked right now (`NOWAIT`; the
    /// lock is let go at once): no transaction holds it.
    pub async fn row_is_free(&self, table: &str, id: i64) -> Result<(), diesel::result::Error> {
        use diesel_async::{AsyncConnection, SimpleAsyncConnection};
        let mut probe = self.db().await;
        probe
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                conn.batch_execute(&format!(
                    "SELECT 1 FROM {table} WHERE id = {id} FOR UPDATE NOWAIT"
                ))
                .await
            })
            .await
    }

    /// The number of rows in `table`.
    pub async fn count(&self, table: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            count: i64,
        }
        let mut conn = self.db().await;
        diesel::sql_query(format!("SELECT count(*) AS count FROM {table}"))
            .get_result::<Count>(&mut conn)
            .await
            .unwrap()
            .count
    }

    /// The first column of what `query` answers, as text.
    pub async fn strings(&self, query: &str) -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            value: String,
        }
        let mut conn = self.db().await;
        diesel::sql_query(format!(
            "SELECT value::text AS value FROM ({query}) AS answer(value)"
        ))
        .load::<Row>(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.value)
        .collect()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let database_name = self.owns_database.then(|| self.database_name.clone());
        let redis_prefix = self.owns_redis_prefix.then(|| self.redis_prefix.clone());
        // Drop cannot await, and the test's runtime may be shutting down:
        // clean up on a thread with a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Some(database_name) = database_name {
                    let mut conn = admin_connection().await;
                    let _ = try_execute(
                        &mut conn,
                        &format!("DROP DATABASE IF EXISTS {database_name} WITH (FORCE)"),
                    )
                    .await;
                }
                if let Some(redis_prefix) = redis_prefix {
                    delete_redis_keys(&redis_prefix).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Deletes every Redis key under `prefix` (tests only: SCAN is fine here).
pub async fn delete_redis_keys(prefix: &str) {
    let Ok(client) = redis::Client::open(redis_url()) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys = redis_keys(&mut conn, &format!("{prefix}*")).await;
    if !keys.is_empty() {
        let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
    }
}

pub async fn redis_keys(
    conn: &mut redis::aio::MultiplexedConnection,
    pattern: &str,
) -> Vec<String> {
    let mut cursor = 0u64;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

/// A response, read whole.
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Asserts a problem+json answer with `status`, and returns its body.
    #[track_caller]
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text()
        );
        let mut body = self.json();
        assert_eq!(body["status"], status);
        assert!(
            body["title"].is_string() && body["detail"].is_string() && body["type"].is_string()
        );
        // Every problem names its request, as the response header does;
        // the rest of the body is what the caller compares.
        let request_id = body
            .as_object_mut()
            .and_then(|members| members.remove("request_id"));
        assert!(
            self.header("x-request-id").is_some(),
            "a problem without a request id: {}",
            self.text()
        );
        assert_eq!(
            request_id.as_ref().and_then(Value::as_str),
            self.header("x-request-id"),
            "the problem's request_id: {}",
            self.text()
        );
        body
    }

    /// Asserts a 422 whose `errors` name `field`.
    #[track_caller]
    pub fn field_error(&self, field: &str) -> Value {
        let body = self.problem(422);
        assert!(
            body["errors"].get(field).is_some(),
            "expected an error for {field}: {body}"
        );
        body
    }
}

/// The `product_name` of each product of a list answer, in order.
pub fn product_names(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|product| product["product_name"].as_str().unwrap().to_owned())
        .collect()
}
