pub async fn send_welcome(input: Signup, ctx: Context) -> Result<Sent, TaskError> {
    todo!()
}
///The standalone task workflow of [`send_welcome()`]: run it with `client.run::<send_welcome>(..)`.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy)]
pub struct send_welcome {}
impl ::hatchet_rs::__private::WorkflowDefinition for send_welcome {
    type Input = Signup;
    type Output = Sent;
    fn definition() -> ::core::result::Result<
        ::hatchet_rs::__private::Workflow<Self::Input, Self::Output>,
        ::hatchet_rs::__private::DefinitionError,
    > {
        ::hatchet_rs::__private::Workflow::<
            Self::Input,
            Self::Output,
        >::standalone(
                ::hatchet_rs::__private::Task::new("send_welcome", send_welcome)
                    .retries(2u32),
            )
            .on_cron("0 * * * *")
            .build()
    }
}
