// The governed pipeline end to end, one instance of each service (test/e2e/pipeline-cases.ts).
import { governedPipelineCases } from './pipeline-cases.ts';

governedPipelineCases(26280);
