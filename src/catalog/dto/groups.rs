//! What the API shows and takes of categories and tags.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::products::ListedProduct;
use crate::catalog::models::{Category, GroupRecord, Tag};
use crate::domain::Name;
use crate::error::FieldErrors;
use crate::extract::ParseBody;

/// A group as the API shows it: categories and tags differ only in the
/// name of their name field and in their docs.
macro_rules! group_view {
    ($(#[$doc:meta])* $view:ident { $name:ident }, $(#[$total:meta])*) => {
        $(#[$doc])*
        #[derive(Debug, Serialize, ToSchema)]
        pub struct $view {
            pub id: i32,
            pub $name: String,
            pub created_at: DateTime<Utc>,
            pub updated_at: DateTime<Utc>,
            /// Absent when the list was asked for with `products=false`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub products: Option<Vec<ListedProduct>>,
            $(#[$total])*
            pub products_total: i64,
        }
    };
}

group_view!(
    /// A category with its first 100 products (lowest ids first), unless a list
    /// was asked for with `products=false`.
    CategoryView { category_name },
    /// How many products the category has in all.
);
group_view!(
    /// A tag with its first 100 products (lowest ids first), unless a list was
    /// asked for with `products=false`.
    TagView { tag_name },
    /// How many products carry the tag in all.
);

/// `POST /api/categories`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryBody {
    /// Unique regardless of case.
    #[schema(value_type = Name, required)]
    pub category_name: Option<String>,
}

/// `PUT /api/categories/{id}`: fields left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryChangesBody {
    #[schema(value_type = Option<Name>)]
    pub category_name: Option<String>,
}

/// `POST /api/tags`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagBody {
    /// Unique regardless of case.
    #[schema(value_type = Name, required)]
    pub tag_name: Option<String>,
}

/// `PUT /api/tags/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagChangesBody {
    #[schema(value_type = Option<Name>)]
    pub tag_name: Option<String>,
}

/// A required name, or its errors.
fn required_name(errors: &mut FieldErrors, field: &str, raw: Option<String>) -> Option<Name> {
    errors.parse_required(field, raw, |raw| Name::parse(&raw))
}

/// A name that may be left out (`Some(None)`), or its errors (`None`).
fn optional_name(
    errors: &mut FieldErrors,
    field: &str,
    raw: Option<String>,
) -> Option<Option<Name>> {
    match raw {
        None => Some(None),
        Some(raw) => errors.check(field, Name::parse(&raw)).map(Some),
    }
}

/// What the two kinds share but for their name field: a view from its
/// record, and the parsing of its two bodies.
macro_rules! group_wire {
    ($view:ident from $row:ident, $body:ident and $changes:ident by $field:ident) => {
        impl From<GroupRecord<$row>> for $view {
            fn from(record: GroupRecord<$row>) -> Self {
                Self {
                    id: record.group.id,
                    $field: record.group.$field,
                    created_at: record.group.created_at,
                    updated_at: record.group.updated_at,
                    products: record
                        .products
                        .map(|products| products.into_iter().map(Into::into).collect()),
                    products_total: record.products_total,
                }
            }
        }

        impl ParseBody for $body {
            type Parsed = Name;

            fn parse(self, errors: &mut FieldErrors) -> Option<Name> {
                required_name(errors, stringify!($field), self.$field)
            }
        }

        impl ParseBody for $changes {
            type Parsed = Option<Name>;

            fn parse(self, errors: &mut FieldErrors) -> Option<Option<Name>> {
                optional_name(errors, stringify!($field), self.$field)
            }
        }
    };
}

group_wire!(CategoryView from Category, CategoryBody and CategoryChangesBody by category_name);
group_wire!(TagView from Tag, TagBody and TagChangesBody by tag_name);
