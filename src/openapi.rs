//! The OpenAPI document's frame; its paths and schemas come from the handlers'
//! `#[utoipa::path]` annotations as [`crate::router::api_routes`] registers them.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa::{Modify, OpenApi};

use crate::error::ProblemSchema;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Emporium",
        description = "A store catalog, the Project Catwalk products API, carts and orders.\n\nErrors are RFC 9457 problem details; each `type` (such as `/problems/validation`) is a page of this server that explains it: see [the list of problems](/problems)."
    ),
    modifiers(&BearerScheme),
    components(schemas(ProblemSchema)),
    tags(
        (name = "catalog", description = "Categories, products, tags; writes need an admin"),
        (name = "auth", description = "Sign-up, sign-in, sessions"),
        (name = "cart", description = "The signed-in user's cart"),
        (name = "orders", description = "Checkout and orders"),
        (name = "catwalk", description = "The Project Catwalk (Atelier) products API, under /catwalk"),
        (name = "operations", description = "Health, metrics, documentation"),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` scheme that guarded operations name.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// A problem+json answer with `status`, as documented.
pub(crate) fn problem(description: &str, retry_after: bool) -> RefOr<Response> {
    let mut response = ResponseBuilder::new().description(description).content(
        crate::error::PROBLEM_JSON,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build(),
    );
    if retry_after {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                ))
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
    RefOr::T(response.build())
}

/// Declares a set of problem answers that many operations share, so that
/// each operation lists only what is its own.
///
/// A domain's own sets (no `Retry-After`) fit on one line each:
/// `problems!(NoSuchThing: "404" => "No such thing");`.
macro_rules! problems {
    ($(#[$doc:meta])* $name:ident: $($status:literal => $description:literal),+ $(,)?) => {
        $crate::openapi::problems! { $(#[$doc])* $name { $($status => ($description, false)),+ } }
    };
    ($(#[$doc:meta])* $name:ident { $($status:literal => ($description:literal, $retry:literal)),+ $(,)? }) => {
        $(#[$doc])*
        pub struct $name;

        impl ::utoipa::IntoResponses for $name {
            fn responses() -> ::std::collections::BTreeMap<
                String,
                ::utoipa::openapi::RefOr<::utoipa::openapi::response::Response>,
            > {
                ::std::collections::BTreeMap::from([
                    $(($status.to_string(), $crate::openapi::problem($description, $retry))),+
                ])
            }
        }
    };
}
pub(crate) use problems;

problems! {
    /// What any read of PostgreSQL can answer besides its own.
    ReadProblems {
        "400" => ("A path id, a query parameter or value that cannot be read, or a parameter this route does not take (named in `errors`)", false),
        "503" => ("PostgreSQL is unavailable, or the request took too long", true),
    }
}

problems! {
    /// A query value that reads but is out of range (`page=0`).
    QueryProblems {
        "422" => ("A query value out of range or not one of the choices (named in `errors`)", false),
    }
}

problems! {
    /// What a JSON body can be refused for.
    BodyProblems {
        "400" => ("Malformed JSON, or a path id that is not a positive integer", false),
        "413" => ("The body is larger than the server accepts", false),
        "415" => ("The body is not JSON", false),
        "422" => ("Invalid fields, each named in `errors`", false),
    }
}

problems! {
    /// What any signed-in route can answer.
    SessionProblems {
        "401" => ("No valid session: sign in and send `Authorization: Bearer <token>`", false),
        "503" => ("The session store or the database is unavailable", true),
    }
}

problems! {
    /// What an admin-only route can answer.
    AdminProblems {
        "401" => ("No valid session: sign in and send `Authorization: Bearer <token>`", false),
        "403" => ("Not an admin", false),
        "503" => ("The session store, the cache or the database is unavailable", true),
    }
}

problems! {
    /// Sign-up and sign-in.
    RateLimited {
        "429" => ("Too many attempts from this address or for this email", true),
    }
}
