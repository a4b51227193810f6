// Jest's node environment plus a count of failed tests and hooks in the file's global scope, so a
// suite's afterAll can keep the logs of a lab whose tests failed (test/harness/failures.ts) before it
// tears the lab down. jest-circus tells only the environment, not the tests, whether a test failed.
import { TestEnvironment } from 'jest-environment-node';

export default class CountingFailures extends TestEnvironment {
  async handleTestEvent(event) {
    if (event.name === 'test_fn_failure' || event.name === 'hook_failure')
      this.global.__purelbFailedTests = (this.global.__purelbFailedTests ?? 0) + 1;
  }
}
