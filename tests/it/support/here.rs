//! The name of the test a line is written in, for what needs it (a server's skip note, a
//! database or role prefix), so that no test spells its own name out again.

/// The name of the function this is written in (an async test's body is a closure inside it).
macro_rules! test_name {
    () => {{
        fn here() {}
        let path = std::any::type_name_of_val(&here).trim_end_matches("::here");
        let path = path.trim_end_matches("::{{closure}}");
        path.rsplit("::").next().unwrap()
    }};
}

pub(crate) use test_name;

#[test]
fn names_the_test_it_is_written_in() {
    assert_eq!(test_name!(), "names_the_test_it_is_written_in");
}

#[tokio::test]
async fn names_an_async_test_too() {
    assert_eq!(test_name!(), "names_an_async_test_too");
}
