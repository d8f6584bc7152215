// standardPipeline(app: 'static-site'): a small repository's whole Jenkinsfile.
//
//   @Library('pipeline-lib') _
//   standardPipeline(app: 'static-site', skip: ['lint', 'unit-tests'])
//
// The dev pipeline of pipeline-lib/src/stages/stage-definitions.ts as a
// declarative pipeline: every branch and pull request installs, builds, tests
// and pushes its image; develop deploys it to `test` and verifies it there. The
// stages, their order and their `when` are generated from the definitions (a
// test holds them to it), and each runs `pipelineStage`; Slack hears of
// success, failure and fixed. The repository brings its own package.json
// (`npm ci`, a `build` script), pipeline.config.yaml, Dockerfile, manifests and
// contract.
//
// Parameters:
//   app             the app's name (required); the image repository is
//                   <IMAGE_REGISTRY>/<app>: IMAGE_REGISTRY is the registry (and
//                   path prefix) a Jenkins admin sets for every job, such as
//                   <account>.dkr.ecr.<region>.amazonaws.com/team; 127.0.0.1:5000
//                   when unset. A global IMAGE_REPOSITORY is not used: it would
//                   send every app's images into one repository.
//   imageRepository that default instead
//   skip            stage ids not to run, such as ['lint', 'unit-tests']
//   credentials     your credential ids for the default ones:
//                   [registry: '…', 'kubeconfig-test': '…', 'slack-webhook': '…']
//   strategy        the deploy strategy per environment it deploys to (test),
//                   such as [test: 'canary']: 'rolling' or 'canary', passed to
//                   that environment's deploy stage as `--strategy` (pipelineStage's
//                   `strategy`); an environment it does not name keeps the
//                   config's environments.<env>.strategy
def call(Map config = [:]) {
  if (!config.app) {
    error('standardPipeline: app is required, such as standardPipeline(app: \'static-site\')')
  }
  List skip = config.skip ?: []
  for (Object id in skip) {
    if (!(id in STAGE_IDS)) {
      error("standardPipeline: skip names no stage '${id}'; the stages: ${STAGE_IDS.join(', ')}")
    }
  }
  Object strategy = config.strategy == null ? [:] : config.strategy
  String allowed = "'${STRATEGIES.join("' or '")}'"
  if (!(strategy instanceof Map)) {
    error("standardPipeline: strategy is a map from environment to ${allowed}, " +
        "such as [${DEPLOY_ENVIRONMENTS[0]}: 'canary'], not '${strategy}'")
  }
  // By environment, as the generated stages below read it: strategies['test'].
  Map strategies = [:]
  for (Object environment in ((Map) strategy).keySet()) {
    Object value = ((Map) strategy)[environment]
    if (!(environment.toString() in DEPLOY_ENVIRONMENTS)) {
      error("standardPipeline: strategy names no environment '${environment}' that it deploys to; " +
          "it deploys to: ${DEPLOY_ENVIRONMENTS.join(', ')}")
    }
    if (!(value?.toString() in STRATEGIES)) {
      error("standardPipeline: strategy for '${environment}' is ${allowed}, not '${value}'")
    }
    strategies[environment.toString()] = value.toString()
  }
  Map credentials = config.credentials ?: [:]
  String slackWebhook = credentials['slack-webhook'] ?: 'slack-webhook'
  String registry = (env.IMAGE_REGISTRY ?: '127.0.0.1:5000').replaceAll('/+$', '')
  String repository = config.imageRepository ?: "${registry}/${config.app}"

  pipeline {
    agent any
    // Node.js 24 from the NodeJS plugin: an installation named 'node-24'.
    tools {
      nodejs 'node-24'
    }
    options {
      timestamps()
      disableConcurrentBuilds()
      buildDiscarder(logRotator(numToKeepStr: '30'))
      timeout(time: 60, unit: 'MINUTES')
    }
    environment {
      CI = 'true'
      // For `pipeline notify`: how long the run took.
      BUILD_START = "${currentBuild.startTimeInMillis}"
      IMAGE_REPOSITORY = "${repository}"
    }
    // Generated from the stage definitions: do not edit by hand.
    // BEGIN GENERATED: stages
    stages {
      stage('Install') {
        when {
          expression { !('install' in skip) }
        }
        steps {
          pipelineStage('install', pipeline: 'dev', credentials: credentials)
        }
        post {
          failure {
            script {
              env.FAILED_STAGE = env.STAGE_NAME
            }
          }
        }
      }
      stage('Lint') {
        when {
          expression { !('lint' in skip) }
        }
        steps {
          pipelineStage('lint', pipeline: 'dev', credentials: credentials)
        }
        post {
          failure {
            script {
              env.FAILED_STAGE = env.STAGE_NAME
            }
          }
        }
      }
      stage('Unit tests') {
        when {
          expression { !('unit-tests' in skip) }
        }
        steps {
          pipelineStage('unit-tests', pipeline: 'dev', credentials: credentials)
        }
        post {
          failure {
            script {
              env.FAILED_STAGE = env.STAGE_NAME
            }
          }
        }
      }
      stage('Build image') {
        when {
          expression { !('build' in skip) }
        }
        steps {
          pipelineStage('build', pipeline: 'dev', credentials: credentials)
        }
        post {
          failure {
            script {
              env.FAILED_STAGE = env.STAGE_NAME
            }
          }
        }
      }
      stage('Integration tests') {
        when {
          expression { !('integration-tests' in skip) }
        }
        steps {
          pipelineStage('integration-tests', pipeline: 'dev', credentials: credentials)
        }
        post {
          failure {
            script {
              env.FAILED_STAGE = env.STAGE_NAME
            }
          }
        }
      }
      stage('Push') {
        when {
          expression { !('push' in skip) }
        }
        steps {
          pipelineStage('push', pipeline: 'dev', credentials: credentials)
        }
        post {
          failure {
            script {
              env.FAILED_STAGE = env.STAGE_NAME
            }
          }
        }
      }
      stage('Sign evidence') {
        when {
          branch 'develop'
          expression { !('attest' in skip) }
        }
        steps {
          pipelineStage('attest', pipeline: 'dev', credentials: credentials)
        }
        post {
          failure {
            script {
              env.FAILED_STAGE = env.STAGE_NAME
            }
          }
        }
      }
      stage('Deploy to test') {
        when {
          branch 'develop'
          expression { !('deploy-test' in skip) }
        }
        steps {
          pipelineStage('deploy-test', pipeline: 'dev', credentials: credentials, strategy: strategies['test'])
        }
        post {
          failure {
            script {
              env.FAILED_STAGE = env.STAGE_NAME
            }
          }
        }
      }
      stage('Verify test') {
        when {
          branch 'develop'
          expression { !('verify-test' in skip) }
        }
        steps {
          pipelineStage('verify-test', pipeline: 'dev', credentials: credentials)
        }
        post {
          failure {
            script {
              env.FAILED_STAGE = env.STAGE_NAME
            }
          }
        }
      }
    }
    // END GENERATED: stages
    post {
      always {
        archiveArtifacts artifacts: 'build.json', allowEmptyArchive: true
      }
      success {
        script {
          // A build that fixes a failed one says so once, in `fixed`.
          if (!(currentBuild.previousBuild?.result in ['FAILURE', 'UNSTABLE'])) {
            withCredentials([string(credentialsId: slackWebhook, variable: 'SLACK_WEBHOOK_URL')]) {
              sh 'npx --no-install pipeline notify --status success'
            }
          }
        }
      }
      fixed {
        withCredentials([string(credentialsId: slackWebhook, variable: 'SLACK_WEBHOOK_URL')]) {
          sh 'npx --no-install pipeline notify --status fixed'
        }
      }
      failure {
        withCredentials([string(credentialsId: slackWebhook, variable: 'SLACK_WEBHOOK_URL')]) {
          sh 'npx --no-install pipeline notify --status failure'
        }
      }
    }
  }
}

// Generated from the stage definitions: do not edit by hand.
// BEGIN GENERATED: stage ids
@groovy.transform.Field
final List STAGE_IDS = ['install', 'lint', 'unit-tests', 'build', 'integration-tests', 'push', 'attest', 'deploy-test', 'verify-test']
// END GENERATED: stage ids

// Generated from the stage definitions and the strategies of `pipeline deploy`:
// do not edit by hand.
// BEGIN GENERATED: strategies
@groovy.transform.Field
final List DEPLOY_ENVIRONMENTS = ['test']
@groovy.transform.Field
final List STRATEGIES = ['rolling', 'canary']
// END GENERATED: strategies
