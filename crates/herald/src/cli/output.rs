//! How answers are shown: the API's JSON unchanged (`--output json`) for
//! scripts, or tables for people (comfy-table). Tables pick a few columns of
//! each item by JSON pointer; a single object is shown field by field.

use clap::ValueEnum;
use comfy_table::{ContentArrangement, Table, presets};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Tables for people.
    Table,
    /// The API's JSON, for scripts.
    Json,
}

/// One column: its heading and where its value sits in an item.
pub type Column = (&'static str, &'static str);

impl Output {
    /// A list: the items' table, or the JSON as given.
    pub fn list(self, answer: &Value, columns: &[Column]) {
        match self {
            Output::Json => print_json(answer),
            Output::Table => {
                let items = answer["items"].as_array().or(answer.as_array());
                println!("{}", table(items.map_or(&[][..], Vec::as_slice), columns));
            }
        }
    }

    /// One object: its fields, or the JSON as given.
    pub fn object(self, answer: &Value) {
        match self {
            Output::Json => print_json(answer),
            Output::Table => println!("{}", fields(answer)),
        }
    }

    /// A short confirmation for people; the JSON answer for scripts.
    pub fn done(self, answer: &Value, text: &str) {
        match self {
            Output::Json => print_json(answer),
            Output::Table => println!("{text}"),
        }
    }
}

pub fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialise")
    );
}

pub fn table(items: &[Value], columns: &[Column]) -> Table {
    let mut table = new_table();
    table.set_header(columns.iter().map(|(heading, _)| *heading));
    for item in items {
        table.add_row(
            columns
                .iter()
                .map(|(_, pointer)| cell(item.pointer(pointer))),
        );
    }
    table
}

fn fields(object: &Value) -> Table {
    let mut table = new_table();
    if let Some(map) = object.as_object() {
        for (key, value) in map {
            table.add_row([key.clone(), cell(Some(value))]);
        }
    } else {
        table.add_row([cell(Some(object))]);
    }
    table
}

fn new_table() -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    table
}

/// A value as one cell: text as is, lists joined, nothing for null.
fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) if items.iter().all(|v| !v.is_object()) => items
            .iter()
            .map(|v| cell(Some(v)))
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn cells_show_text_lists_and_nothing_for_null() {
        assert_eq!(cell(Some(&json!("a"))), "a");
        assert_eq!(cell(Some(&json!(["job", "system"]))), "job, system");
        assert_eq!(cell(Some(&Value::Null)), "");
        assert_eq!(cell(Some(&json!({"env": "prod"}))), r#"{"env":"prod"}"#);
    }
}
