//! What the accounts' changes retire in the cache: no document is an
//! account, but others show account fields (an admin's order lists name
//! each order's customer), and depend on [`accounts`] for them.

use crate::cache::{Namespace, Retirement};

/// Account fields shown in other documents (a customer's name and email).
pub fn accounts() -> Namespace {
    Namespace::fixed("accounts")
}

/// An account renamed: the documents that show account fields.
pub fn account_changed() -> Retirement {
    Retirement::of([accounts()])
}
