const common = {
  transform: { '\\.ts$': '<rootDir>/test/jest-strip-types.js' },
  extensionsToTreatAsEsm: ['.ts'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  testEnvironment: 'node',
};

// testTimeout is global in jest 30 (ignored per project); unit tests are fast either way.
export default {
  testTimeout: 120_000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/harness/global-setup.ts',
      globalTeardown: '<rootDir>/test/harness/global-teardown.ts',
    },
    {
      ...common,
      displayName: 'e2e',
      // counts failures so a failed lab's logs are kept (test/harness/failures.ts)
      testEnvironment: '<rootDir>/test/jest-environment.js',
      testMatch: ['<rootDir>/e2e/*.test.ts'],
      // the lab's apiserver listens on a management bridge the node namespaces reach (not loopback)
      globalSetup: '<rootDir>/e2e/global-setup.ts',
      globalTeardown: '<rootDir>/e2e/global-teardown.ts',
    },
    // the real-cluster lab: each file brings up its own Kubernetes with one routing overlay
    {
      ...common,
      displayName: 'cluster',
      testMatch: ['<rootDir>/e2e/cluster/*.test.ts'],
      testEnvironment: '<rootDir>/test/jest-environment.js',
    },
  ],
};
