// Jest transformer: the same type stripping Node 24 applies at run time, so tests execute exactly the
// code the CLI runs. 'strip' mode blanks types in place, so line and column numbers stay correct.
import { stripTypeScriptTypes } from 'node:module';

export default {
  process(source, path) {
    return { code: path.endsWith('.ts') ? stripTypeScriptTypes(source, { mode: 'strip' }) : source };
  },
};
