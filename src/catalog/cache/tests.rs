use super::*;

#[test]
fn namespace_names_are_stable() {
    assert_eq!(product(7).name(), "product:7");
    assert_eq!(products().name(), "products");
}

#[test]
fn a_product_change_deletes_its_documents() {
    let retired = products_changed(&[7]);
    assert!(retired.keys.contains(&"product:7:styles".to_owned()));
    assert!(retired.namespaces.contains(&product(7)));
}
