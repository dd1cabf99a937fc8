impl Checkout {
    async fn fetch(order: Order, ctx: Context) -> Result<Fetched, TaskError> {
        todo!()
    }
    async fn charge(
        order: Order,
        fetch: Fetched,
        ctx: Context,
    ) -> Result<Charged, TaskError> {
        todo!()
    }
    async fn alert(order: Order, ctx: Context) -> Result<(), TaskError> {
        todo!()
    }
}
impl ::hatchet_rs::__private::WorkflowDefinition for Checkout {
    type Input = Order;
    type Output = ::hatchet_rs::__private::RunOutput;
    fn definition() -> ::core::result::Result<
        ::hatchet_rs::__private::Workflow<Self::Input, Self::Output>,
        ::hatchet_rs::__private::DefinitionError,
    > {
        ::hatchet_rs::__private::Workflow::<
            Self::Input,
            Self::Output,
        >::builder("checkout")
            .on_event("order:placed")
            .task(
                ::hatchet_rs::__private::Task::new("fetch", Self::fetch)
                    .retries(3u32)
                    .timeout("30s"),
            )
            .task(
                ::hatchet_rs::__private::Task::new(
                        "charge",
                        |input: Order, ctx: ::hatchet_rs::__private::Context| async move {
                            let fetch: Fetched = ::hatchet_rs::__private::parent_output(
                                &ctx,
                                "fetch",
                            )?;
                            let fetch: Fetched = fetch;
                            Self::charge(input, fetch, ctx)
                                .await
                                .map_err(::hatchet_rs::__private::into_task_error)
                        },
                    )
                    .after(["fetch"])
                    .retries(1u32)
                    .rate_limit(
                        ::hatchet_rs::__private::RateLimit::fixed("payments", 1i32),
                    ),
            )
            .on_failure(
                ::hatchet_rs::__private::Task::new("alert", Self::alert).retries(1u32),
            )
            .build()
    }
}
