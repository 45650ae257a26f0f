"""Tests of two services together, in-process (a router with a real plugin-runner, the edge with
the catalog registry and a runner): a service's own tests import no other service
(forge.testing.import_rules). Each service's test harness is imported from its test folder."""
