//! Table functions over time (`resources_at(T)`, `changes(T1, T2)`): a query planned once with
//! timestamp placeholders, bound to the call's arguments.

use std::sync::Arc;

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::catalog::{view::ViewTable, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{plan_err, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{cast, Expr, LogicalPlan};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;

/// A parameterised query exposed as a table function whose arguments are instants.
#[derive(Debug)]
pub struct TemporalFunction {
    name: &'static str,
    parameters: &'static [&'static str],
    template: LogicalPlan,
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
            template,
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
        let bound = self.template.clone().with_param_values(values)?;
        Ok(Arc::new(ViewTable::new(bound, None)))
    }
}
