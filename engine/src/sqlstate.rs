//! The one place where engine errors become SQLSTATE codes. Every front end (the Postgres-wire
//! server, the MCP server) reports the same code for the same failure.

use datafusion::error::DataFusionError;

use crate::error::EngineError;

/// Codes used, from PostgreSQL's errcodes appendix.
pub mod codes {
    /// syntax_error
    pub const SYNTAX_ERROR: &str = "42601";
    /// undefined_table
    pub const UNDEFINED_TABLE: &str = "42P01";
    /// undefined_column
    pub const UNDEFINED_COLUMN: &str = "42703";
    /// undefined_function
    pub const UNDEFINED_FUNCTION: &str = "42883";
    /// datatype_mismatch
    pub const DATATYPE_MISMATCH: &str = "42804";
    /// syntax_error_or_access_rule_violation (other planning errors)
    pub const PLANNING_ERROR: &str = "42000";
    /// read_only_sql_transaction
    pub const READ_ONLY: &str = "25006";
    /// feature_not_supported
    pub const NOT_SUPPORTED: &str = "0A000";
    /// invalid_text_representation
    pub const INVALID_TEXT: &str = "22P02";
    /// invalid_parameter_value (a named query's parameter, a tool argument)
    pub const INVALID_PARAMETER: &str = "22023";
    /// division_by_zero
    pub const DIVISION_BY_ZERO: &str = "22012";
    /// out_of_memory
    pub const OUT_OF_MEMORY: &str = "53200";
    /// too_many_connections
    pub const TOO_MANY_CONNECTIONS: &str = "53300";
    /// query_canceled (statement timeout, cancel request)
    pub const QUERY_CANCELED: &str = "57014";
    /// program_limit_exceeded (a result larger than max_result_rows)
    pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
    /// idle_session_timeout (a session idle longer than `idle_session_timeout` is closed)
    pub const IDLE_SESSION_TIMEOUT: &str = "57P05";
    /// protocol_violation (a client message the wire decoder cannot read)
    pub const PROTOCOL_VIOLATION: &str = "08P01";
    /// internal_error
    pub const INTERNAL: &str = "XX000";
}

/// SQLSTATE and message for an engine error.
pub fn for_engine(error: &EngineError) -> (&'static str, String) {
    match error {
        EngineError::Syntax(_) => (codes::SYNTAX_ERROR, error.to_string()),
        EngineError::ReadOnly(_) => (codes::READ_ONLY, error.to_string()),
        EngineError::Query { source, .. } => for_datafusion(source),
        _ => (codes::INTERNAL, error.to_string()),
    }
}

/// SQLSTATE and message for a DataFusion error, judged by its root cause.
pub fn for_datafusion(error: &DataFusionError) -> (&'static str, String) {
    let root = error.find_root();
    let message = root.to_string();
    let lowered = message.to_ascii_lowercase();
    let code = match root {
        DataFusionError::SQL(..) => codes::SYNTAX_ERROR,
        DataFusionError::ResourcesExhausted(_) => codes::OUT_OF_MEMORY,
        DataFusionError::NotImplemented(_) => codes::NOT_SUPPORTED,
        _ if lowered.contains("table") && lowered.contains("not found") => codes::UNDEFINED_TABLE,
        _ if lowered.contains("no field named")
            || lowered.contains("column") && lowered.contains("not found") =>
        {
            codes::UNDEFINED_COLUMN
        }
        _ if lowered.contains("invalid function")
            || lowered.contains("function") && lowered.contains("not found")
            || lowered.contains("table function") =>
        {
            codes::UNDEFINED_FUNCTION
        }
        _ if lowered.contains("divide by zero") || lowered.contains("division by zero") => {
            codes::DIVISION_BY_ZERO
        }
        _ if lowered.contains("cannot cast")
            || lowered.contains("cast error")
            || lowered.contains("error parsing") =>
        {
            codes::INVALID_TEXT
        }
        _ if lowered.contains("coerc") || lowered.contains("type mismatch") => {
            codes::DATATYPE_MISMATCH
        }
        DataFusionError::Plan(_) | DataFusionError::SchemaError(..) => codes::PLANNING_ERROR,
        _ => codes::INTERNAL,
    };
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datafusion_errors_get_specific_codes() {
        let cases = [
            (
                DataFusionError::Plan("table 'groundtruth.public.nope' not found".into()),
                codes::UNDEFINED_TABLE,
            ),
            (
                DataFusionError::Plan("Invalid function 'nope'".into()),
                codes::UNDEFINED_FUNCTION,
            ),
            (
                DataFusionError::NotImplemented("x".into()),
                codes::NOT_SUPPORTED,
            ),
            (
                DataFusionError::ResourcesExhausted("memory".into()),
                codes::OUT_OF_MEMORY,
            ),
            (
                DataFusionError::Context(
                    "outer".into(),
                    Box::new(DataFusionError::Plan("table 't' not found".into())),
                ),
                codes::UNDEFINED_TABLE,
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(for_datafusion(&error).0, expected, "{error}");
        }
    }

    #[test]
    fn read_only_and_syntax() {
        assert_eq!(
            for_engine(&EngineError::ReadOnly("COPY".into())).0,
            codes::READ_ONLY
        );
        assert_eq!(
            for_engine(&EngineError::Syntax("x".into())).0,
            codes::SYNTAX_ERROR
        );
    }
}
