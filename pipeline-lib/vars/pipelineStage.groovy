// pipelineStage('deploy', env: 'test'): runs one stage of pipeline-lib's
// pipelines, as pipeline-lib/src/stages/stage-definitions.ts defines it: its one
// `pipeline` CLI call (`npx --no-install pipeline …`, installed by `npm ci`),
// inside `withCredentials` with the stage's credentials (bound by id, never
// passed as text), then its approval and, whatever happens, its reports (`junit`,
// Warnings NG's checkstyle). The logic stays in the CLI; the table below is
// generated from the definitions and a test holds it to them. The Jenkinsfile's
// own `when` decides whether the stage runs (`standardPipeline` takes the
// definitions' `when` too).
//
//   pipelineStage('build')
//   pipelineStage('deploy', env: 'test')                  // the stage 'deploy-test'
//   pipelineStage('push', credentials: [registry: 'my-registry'])
//   pipelineStage('verify', env: 'production', pipeline: 'prod')
//   pipelineStage('deploy', env: 'production', strategy: 'canary')
//
// An approval ('approval', pipeline: 'prod') is a milestone, the `input` (only
// its `submitter` may answer; the definitions name a group) under its own
// timeout, and a milestone: a newer build that is approved aborts this one while
// it waits, and an older one approved later can never pass it. The command needs
// the workspace, the wait needs none, and an `input` inside a stage that holds an
// agent keeps that executor busy for as long as it waits. So split it:
//
//   stage('Production history') {   // on the agent, with the stages before it
//     steps {
//       pipelineStage('approval', pipeline: 'prod', only: 'command')
//     }
//   }
//   stage('Approval') {
//     agent none                     // and `agent none` at the top
//     steps {
//       pipelineStage('approval', pipeline: 'prod', only: 'approval', submitter: 'my-release-team')
//     }
//   }
//
// Parameters: the stage id (first; with `env`, `<id>-<env>`), `env`, `pipeline`
// ('dev' or 'prod'; the first with that id when absent), `credentials` (a map
// from the README's credential ids to yours), `submitter` (who may approve
// instead of the definitions' group), `only` ('command' or 'approval': that
// part of a stage with an approval) and `strategy` ('rolling' or 'canary'; only
// the deploy stages, deploy-test and deploy-production, take it): it appends
// `--strategy <strategy>` to the deploy's command, for this deploy instead of
// the config's `environments.<env>.strategy`. Without it the config decides.
def call(Map options = [:], String name) {
  Map stage = findStage(options.env ? "${name}-${options.env}" : name, options.pipeline)
  String only = options.only ? options.only.toString() : null
  if (only != null && !(only in ['command', 'approval'])) {
    error("pipelineStage: only is 'command' or 'approval', not '${only}'")
  }
  if (only != null && !stage.input) {
    error("pipelineStage: stage '${stage.id}' has no approval, so no only: '${only}'")
  }
  String command = commandWithStrategy(stage, options.strategy)
  if (only == 'approval') {
    approve(stage.input, (options.submitter ?: stage.input.submitter).toString())
    return
  }
  Map ids = options.credentials ?: [:]
  List bindings = []
  for (Map c in stage.credentials) {
    bindings << credentialBinding(c, (ids[c.id] ?: c.id).toString())
  }
  try {
    // The CLI refuses to run when it is not the version of this library.
    withEnv(["PIPELINE_LIBRARY_VERSION=${LIBRARY_VERSION}"]) {
      if (bindings) {
        withCredentials(bindings) {
          sh command
        }
      } else {
        sh command
      }
    }
    if (stage.input && only != 'command') {
      approve(stage.input, (options.submitter ?: stage.input.submitter).toString())
    }
  } finally {
    if (stage.junit) {
      junit allowEmptyResults: true, testResults: stage.junit
    }
    if (stage.checkstyle) {
      recordIssues(tools: [checkStyle(pattern: stage.checkstyle)])
    }
  }
}

// The stage's command, with `--strategy <strategy>` when one is given: only a
// deploy stage takes one, and only a strategy of STRATEGIES (so nothing else
// ever reaches the shell).
private String commandWithStrategy(Map stage, Object strategy) {
  if (strategy == null) {
    return stage.command
  }
  if (!(strategy.toString() in STRATEGIES)) {
    error("pipelineStage: strategy is '${STRATEGIES.join("' or '")}', not '${strategy}'")
  }
  if (!(stage.id in DEPLOY_STAGE_IDS)) {
    error("pipelineStage: stage '${stage.id}' does not deploy, so no strategy: '${strategy}' " +
        "(only ${DEPLOY_STAGE_IDS.join(' and ')} take one)")
  }
  return "${stage.command} --strategy ${strategy}".toString()
}

// Milestones take the next ordinals (none given), after the caller's own.
private void approve(Map approval, String submitter) {
  milestone(label: "Before: ${approval.message}")
  timeout(time: approval.timeoutHours, unit: 'HOURS') {
    input message: approval.message, ok: approval.ok, submitter: submitter
  }
  milestone(label: "Approved: ${approval.message}")
}

private Map findStage(String id, Object pipeline) {
  List pipelines = pipeline ? [pipeline.toString()] : ['dev', 'prod']
  List known = []
  for (String p in pipelines) {
    if (!STAGES.containsKey(p)) {
      error("pipelineStage: no pipeline '${p}' (dev or prod)")
    }
    for (Map stage in STAGES[p]) {
      if (stage.id == id) {
        return stage
      }
      known << stage.id
    }
  }
  error("pipelineStage: no stage '${id}' in ${pipelines.join(' or ')}; the stages: ${known.unique().join(', ')}")
}

private Object credentialBinding(Map c, String id) {
  if (c.type == 'usernamePassword') {
    return usernamePassword(credentialsId: id, usernameVariable: c.usernameVariable, passwordVariable: c.passwordVariable)
  }
  if (c.type == 'string') {
    return string(credentialsId: id, variable: c.variable)
  }
  return file(credentialsId: id, variable: c.variable)
}

// Generated from pipeline-lib's package.json: do not edit by hand.
// BEGIN GENERATED: version
@groovy.transform.Field
final String LIBRARY_VERSION = '0.1.0'
// END GENERATED: version

// Generated from the stage definitions: do not edit by hand.
// BEGIN GENERATED: stages
@groovy.transform.Field
final Map STAGES = [
  dev: [
    [id: 'install', title: 'Install', command: 'if [ -f infra/node/npm-ci.sh ]; then bash infra/node/npm-ci.sh --no-audit --no-fund; else npm ci --no-audit --no-fund; fi && npm run build', credentials: []],
    [id: 'lint', title: 'Lint', command: 'bash infra/groovy/ensure-groovy.sh && npx --no-install pipeline lint --warnings-as-errors --format checkstyle --output reports/lint.xml && npx --no-install prettier --check --cache --cache-strategy content .', credentials: [], checkstyle: 'reports/lint.xml'],
    [id: 'unit-tests', title: 'Unit tests', command: 'JUNIT_FILE=reports/unit-tests.xml npx --no-install pipeline cached unit-tests --report reports/unit-tests.xml -- npm run test:fast', credentials: [], junit: 'reports/unit-tests.xml'],
    [id: 'build', title: 'Build image', command: 'npx --no-install pipeline build', credentials: []],
    [id: 'integration-tests', title: 'Integration tests', command: 'npx --no-install pipeline test --junit reports/contract-tests.xml', credentials: [], junit: 'reports/contract-tests.xml'],
    [id: 'push', title: 'Push', command: 'npx --no-install pipeline push', credentials: [[type: 'usernamePassword', id: 'registry', usernameVariable: 'REGISTRY_USERNAME', passwordVariable: 'REGISTRY_PASSWORD']]],
    [id: 'attest', title: 'Sign evidence', command: 'npx --no-install pipeline attest', credentials: [[type: 'usernamePassword', id: 'registry', usernameVariable: 'REGISTRY_USERNAME', passwordVariable: 'REGISTRY_PASSWORD'], [type: 'file', id: 'pipeline-signing-key', variable: 'PIPELINE_SIGNING_KEY']]],
    [id: 'deploy-test', title: 'Deploy to test', command: 'npx --no-install pipeline deploy --env test', credentials: [[type: 'usernamePassword', id: 'registry', usernameVariable: 'REGISTRY_USERNAME', passwordVariable: 'REGISTRY_PASSWORD'], [type: 'usernamePassword', id: 'registry-pull', usernameVariable: 'REGISTRY_PULL_USERNAME', passwordVariable: 'REGISTRY_PULL_PASSWORD'], [type: 'file', id: 'kubeconfig-test', variable: 'KUBECONFIG']]],
    [id: 'verify-test', title: 'Verify test', command: 'npx --no-install pipeline verify --env test', credentials: [[type: 'file', id: 'kubeconfig-test', variable: 'KUBECONFIG'], [type: 'usernamePassword', id: 'registry', usernameVariable: 'REGISTRY_USERNAME', passwordVariable: 'REGISTRY_PASSWORD'], [type: 'file', id: 'pipeline-signing-key', variable: 'PIPELINE_SIGNING_KEY']], junit: 'reports/verify.xml'],
  ],
  prod: [
    [id: 'install', title: 'Install', command: 'if [ -f infra/node/npm-ci.sh ]; then bash infra/node/npm-ci.sh --no-audit --no-fund; else npm ci --no-audit --no-fund; fi && npm run build', credentials: []],
    [id: 'lint', title: 'Lint', command: 'bash infra/groovy/ensure-groovy.sh && npx --no-install pipeline lint --warnings-as-errors --format checkstyle --output reports/lint.xml && npx --no-install prettier --check --cache --cache-strategy content .', credentials: [], checkstyle: 'reports/lint.xml'],
    [id: 'unit-tests', title: 'Unit tests', command: 'JUNIT_FILE=reports/unit-tests.xml npx --no-install pipeline cached unit-tests --report reports/unit-tests.xml -- npm run test:fast', credentials: [], junit: 'reports/unit-tests.xml'],
    [id: 'resolve', title: 'Resolve verified image', command: 'npx --no-install pipeline build --reuse', credentials: []],
    [id: 'integration-tests', title: 'Integration tests', command: 'npx --no-install pipeline test --junit reports/contract-tests.xml', credentials: [], junit: 'reports/contract-tests.xml'],
    [id: 'push', title: 'Push', command: 'npx --no-install pipeline push', credentials: []],
    [id: 'attest', title: 'Sign evidence', command: 'npx --no-install pipeline attest', credentials: [[type: 'file', id: 'pipeline-signing-key', variable: 'PIPELINE_SIGNING_KEY']]],
    [id: 'deploy-test', title: 'Deploy to test', command: 'npx --no-install pipeline deploy --env test --unless-reused', credentials: [[type: 'file', id: 'kubeconfig-test', variable: 'KUBECONFIG']]],
    [id: 'verify-test', title: 'Verify test', command: 'npx --no-install pipeline verify --env test --unless-reused --junit reports/verify-test.xml', credentials: [[type: 'file', id: 'kubeconfig-test', variable: 'KUBECONFIG'], [type: 'file', id: 'pipeline-signing-key', variable: 'PIPELINE_SIGNING_KEY']], junit: 'reports/verify-test.xml'],
    [id: 'approval', title: 'Approval', command: 'npx --no-install pipeline history --env production', credentials: [[type: 'file', id: 'kubeconfig-production', variable: 'KUBECONFIG']], input: [message: 'Deploy this image to production?', ok: 'Deploy', submitter: 'release-managers', timeoutHours: 24]],
    [id: 'promote', title: 'Promote', command: 'npx --no-install pipeline promote --digest "$(node -p \'require("./build.json").digest\')" --tag "release-$BUILD_NUMBER"', credentials: []],
    [id: 'deploy-production', title: 'Deploy to production', command: 'npx --no-install pipeline deploy --env production', credentials: [[type: 'file', id: 'kubeconfig-production', variable: 'KUBECONFIG']]],
    [id: 'verify-production', title: 'Verify production', command: 'npx --no-install pipeline verify --env production', credentials: [[type: 'file', id: 'kubeconfig-production', variable: 'KUBECONFIG'], [type: 'file', id: 'pipeline-signing-key', variable: 'PIPELINE_SIGNING_KEY']], junit: 'reports/verify.xml'],
  ],
]
// END GENERATED: stages

// Generated from the stage definitions and the strategies of `pipeline deploy`:
// do not edit by hand.
// BEGIN GENERATED: strategies
@groovy.transform.Field
final List DEPLOY_STAGE_IDS = ['deploy-test', 'deploy-production']
@groovy.transform.Field
final List STRATEGIES = ['rolling', 'canary']
// END GENERATED: strategies
