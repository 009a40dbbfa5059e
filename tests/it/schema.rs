/// `schema.graphql` is what clients and reviewers read; it must match the
/// schema the server serves. Regenerate with `cargo run -- schema > schema.graphql`.
#[test]
fn checked_in_schema_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let checked_in = std::fs::read_to_string(path).expect("schema.graphql exists");
    let served = drift_engine::graphql::sdl();
    assert!(
        checked_in == served,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql`"
    );
}
