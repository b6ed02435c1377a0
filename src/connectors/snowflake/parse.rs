//! Snowflake SQL API result sets (`format: "jsonv2"`): columns from `resultSetMetaData.rowType`,
//! rows as arrays of strings (or null), read by column name and never by position, because
//! Snowflake's behaviour-change bundles add and move SHOW columns.

use serde::Deserialize;
use serde_json::Value;

use super::super::ConnectorError;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    #[serde(default)]
    row_type: Vec<Column>,
    #[serde(default)]
    partition_info: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct Column {
    name: String,
}

/// The first answer to a statement: its columns, the rows of partition 0, and how many
/// partitions there are in all.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FirstPartition {
    result_set_meta_data: Meta,
    #[serde(default)]
    data: Vec<Vec<Option<String>>>,
    #[serde(default)]
    pub(super) statement_handle: Option<String>,
}

/// A later partition (`GET …?partition=n`): only its rows.
#[derive(Debug, Deserialize)]
pub(super) struct LaterPartition {
    #[serde(default)]
    pub(super) data: Vec<Vec<Option<String>>>,
}

impl FirstPartition {
    pub(super) fn partitions(&self) -> usize {
        self.result_set_meta_data.partition_info.len().max(1)
    }
}

/// All the rows of a statement, with their column names lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ResultSet {
    columns: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
}

/// One row, read by column name.
pub(super) struct Row<'a> {
    set: &'a ResultSet,
    values: &'a [Option<String>],
}

impl<'a> Row<'a> {
    /// The value of `column`, None when the column is missing or the value is null.
    pub(super) fn get(&self, column: &str) -> Option<&'a str> {
        let i = self.set.columns.iter().position(|c| c == column)?;
        self.values.get(i)?.as_deref()
    }

    /// The value of a column the statement must have; its absence is a permanent error.
    pub(super) fn need(&self, column: &str) -> Result<&'a str, ConnectorError> {
        self.get(column).ok_or_else(|| {
            ConnectorError::Permanent(format!(
                "Snowflake's answer has no `{column}` column (it has {})",
                self.set.columns.join(", ")
            ))
        })
    }
}

impl ResultSet {
    pub(super) fn new(first: FirstPartition, later: Vec<LaterPartition>) -> Self {
        let columns = first
            .result_set_meta_data
            .row_type
            .into_iter()
            .map(|c| c.name.to_ascii_lowercase())
            .collect();
        let mut rows = first.data;
        for p in later {
            rows.extend(p.data);
        }
        ResultSet { columns, rows }
    }

    pub(super) fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|values| Row { set: self, values })
    }

    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented shape of a ResultSet, with columns in an order a bundle might choose.
    const ANSWER: &str = r#"{
      "resultSetMetaData": {
        "numRows": 3, "format": "jsonv2",
        "partitionInfo": [{"rowCount": 2, "uncompressedSize": 120}, {"rowCount": 1, "uncompressedSize": 60}],
        "rowType": [
          {"name": "created_on", "type": "timestamp_ltz", "nullable": true},
          {"name": "ROLE", "type": "text", "nullable": true},
          {"name": "granted_to", "type": "text", "nullable": true},
          {"name": "grantee_name", "type": "text", "nullable": true}
        ]
      },
      "data": [["1700000000.000 0", "ANALYST", "USER", "ALICE"], [null, "PUBLIC", "USER", "ALICE"]],
      "code": "090001", "statementStatusUrl": "/api/v2/statements/01b-x?requestId=1",
      "sqlState": "00000", "statementHandle": "01b-x", "message": "Statement executed successfully.",
      "createdOn": 1700000000000
    }"#;

    #[test]
    fn rows_are_read_by_column_name_across_partitions() {
        let first: FirstPartition = serde_json::from_str(ANSWER).unwrap();
        assert_eq!(first.partitions(), 2);
        assert_eq!(first.statement_handle.as_deref(), Some("01b-x"));
        let later: LaterPartition =
            serde_json::from_str(r#"{"data": [["x", "LOADER", "USER", "ALICE"]]}"#).unwrap();
        let set = ResultSet::new(first, vec![later]);
        assert_eq!(set.len(), 3);
        let roles: Vec<_> = set
            .rows()
            .map(|r| r.get("role").unwrap().to_owned())
            .collect();
        assert_eq!(roles, ["ANALYST", "PUBLIC", "LOADER"]);
        let second = set.rows().nth(1).unwrap();
        assert_eq!(second.get("created_on"), None, "null");
        let err = second.need("privilege").err().unwrap();
        assert!(err.to_string().contains("no `privilege` column"), "{err}");
    }
}
