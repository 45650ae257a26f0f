"""Sample A2A agents for the demo and the tests."""
