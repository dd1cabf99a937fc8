struct NotAWorkflow;

async fn run(client: hatchet_rs::Client) {
    let _ = client.run::<NotAWorkflow>(&()).await;
}

fn main() {}
