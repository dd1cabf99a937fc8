struct NotAWorkflow;

async fn run(client: hatchet_sdk::Client) {
    let _ = client.run::<NotAWorkflow>(&()).await;
}

fn main() {}
