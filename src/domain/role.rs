//! What an account may do: a customer shops, an admin also runs the catalog
//! and every order. Stored as text (`users_role_known` lists the values).

use super::text_enum::text_enum;

text_enum! {
    /// What an account may do.
    pub enum Role ("role") {
        Customer = "customer",
        Admin = "admin",
    }
}

#[cfg(test)]
mod tests {
    use super::Role;

    #[test]
    fn json_and_the_column_use_the_same_words() {
        for role in Role::ALL {
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
    }
}
