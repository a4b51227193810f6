// Lint: type-aware rules for what the type checker does not catch (unhandled promises, unused code).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', '.e2e-results/', 'scratch/', 'tmp/', 'charts/', 'test/*-bin/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', 'bin/*.js', 'test/*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
      globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // an async method without await is often a port's implementation: the signature is the contract
      '@typescript-eslint/require-await': 'off',
      // errors are handled one way: log fields take the error itself, text for users comes from errorText
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.name='String'][arguments.0.name=/^(err|error|e)$/]",
          message: 'pass the error to the logger as is, or use errorText(err) from src/log.ts for text',
        },
      ],
    },
  },
  {
    // tests and benchmarks read JSON from real tools and the apiserver: untyped by nature
    files: ['test/**', 'e2e/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
  {
    // long functions need a reason: `// eslint-disable-next-line max-lines-per-function -- <why>`
    files: ['src/**/*.ts'],
    // "about 60 lines": 70 counted without blank lines and comments
    rules: { 'max-lines-per-function': ['error', { max: 70, skipBlankLines: true, skipComments: true }] },
  },
);
