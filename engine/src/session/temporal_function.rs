//! Table functions over time (`resources_at(T)`, `changes(T1, T2)`, `drift_at(T)`...): a query
//! planned once with timestamp placeholders, bound to the call's arguments; where the query
//! reads the state at T, its placeholder table is bound to one shared state at T.

use std::sync::Arc;

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::catalog::{view::ViewTable, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{plan_err, ScalarValue};
use datafusion::datasource::provider_as_source;
use datafusion::error::Result;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{cast, Expr, LogicalPlan};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;

use super::state_at_table::{StateSource, STATE_AT_PLACEHOLDER};

/// What a call evaluates.
#[derive(Debug)]
enum Body {
    /// A query with `$1`.. placeholders.
    Template(LogicalPlan),
    /// A query with `$1` and scans of the state placeholder, all bound to the state at `$1`,
    /// computed once per call however often the query reads it.
    StateTemplate(LogicalPlan, Arc<StateSource>),
    /// The state at `$1` itself.
    State(Arc<StateSource>),
}

/// A parameterised query exposed as a table function whose arguments are instants.
#[derive(Debug)]
pub struct TemporalFunction {
    name: &'static str,
    parameters: &'static [&'static str],
    body: Body,
}

impl TemporalFunction {
    /// `template` must use `$1`.. for the instants named in `parameters`.
    pub fn new(
        name: &'static str,
        parameters: &'static [&'static str],
        template: LogicalPlan,
    ) -> Self {
        Self {
            name,
            parameters,
            body: Body::Template(template),
        }
    }

    /// A one-argument (`as_of`) function whose `template` reads the state placeholder.
    pub fn over_state(name: &'static str, template: LogicalPlan, state: Arc<StateSource>) -> Self {
        Self {
            name,
            parameters: &["as_of"],
            body: Body::StateTemplate(template, state),
        }
    }

    /// `name(as_of)`: the state at `as_of`.
    pub fn state(name: &'static str, state: Arc<StateSource>) -> Self {
        Self {
            name,
            parameters: &["as_of"],
            body: Body::State(state),
        }
    }

    fn instant(&self, position: usize, argument: &Expr) -> Result<ScalarValue> {
        let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        // Constant expressions such as now() - INTERVAL '1 day' fold to a literal here.
        let context = SimplifyContext::builder().with_current_time().build();
        let folded = ExprSimplifier::new(context).simplify(cast(argument.clone(), utc.clone()))?;
        match folded {
            Expr::Literal(value, _) if !value.is_null() => value.cast_to(&utc),
            _ => plan_err!(
                "{}(): argument {} ({}) must be a constant timestamp, e.g. TIMESTAMP '2026-01-31 12:00:00' or now() - INTERVAL '1 day'",
                self.name,
                position + 1,
                self.parameters[position]
            ),
        }
    }
}

impl TableFunctionImpl for TemporalFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if exprs.len() != self.parameters.len() {
            return plan_err!(
                "{}() takes {} argument(s): {}",
                self.name,
                self.parameters.len(),
                self.parameters.join(", ")
            );
        }
        let values = exprs
            .iter()
            .enumerate()
            .map(|(position, argument)| self.instant(position, argument))
            .collect::<Result<Vec<_>>>()?;
        let micros = |value: &ScalarValue| match value {
            ScalarValue::TimestampMicrosecond(Some(micros), _) => Ok(*micros),
            other => plan_err!("{}(): instant {other} out of range", self.name),
        };
        match &self.body {
            Body::Template(template) => {
                let bound = template.clone().with_param_values(values)?;
                Ok(Arc::new(ViewTable::new(bound, None)))
            }
            Body::State(state) => Ok(Arc::new(state.at(Some(micros(&values[0])?), false))),
            Body::StateTemplate(template, state) => {
                let table = provider_as_source(Arc::new(state.at(Some(micros(&values[0])?), true)));
                let bound = template
                    .clone()
                    .with_param_values(values)?
                    .transform_up_with_subqueries(|node| match node {
                        LogicalPlan::TableScan(mut scan)
                            if scan.table_name.table() == STATE_AT_PLACEHOLDER =>
                        {
                            scan.source = Arc::clone(&table);
                            Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
                        }
                        other => Ok(Transformed::no(other)),
                    })?
                    .data;
                Ok(Arc::new(ViewTable::new(bound, None)))
            }
        }
    }
}
