// A small interpreter for declarative Jenkinsfiles, for tests: it evaluates the
// file as a Groovy 2.4 script (the Groovy of Jenkins' pipeline engine) in which
// `pipeline { … }` and its directives are methods whose closures run against
// delegates, and it RECORDS every step instead of running it. Two passes, as
// Jenkins does: the `pipeline` block is read into a model first (an unknown
// directive, a stage without steps, or `when { … } steps { … }` chained on one
// line rejects the file before anything runs), then the stages run in order.
//
//   java -cp groovy-all-2.4.21.jar groovy.ui.GroovyMain test/jenkins/Harness.groovy <Jenkinsfile> <scenario.json | ->
//
// A scenario (JSON) sets what Jenkins would: `branch` (BRANCH_NAME), an optional
// `changeRequest` ({ "id": "7", "target": "develop", "branch": "feature/x" }: a
// pull request, BRANCH_NAME PR-<id>), `params`, `env`, `previousResult` (the
// previous build's result, for `fixed`), `fail` ([{ "step": "sh", "matches":
// "<regex>" }]: that step fails, as a non-zero exit does) and `input`
// ("proceed", the default, or "abort"). A file of { "scenarios": [ … ] } runs
// each (a scenario's own "jenkinsfile" wins over the argument) and prints a JSON
// array; one scenario prints one JSON object:
//
//   { name, result, stages: [{ name, status }], steps: [{ stage, phase, step, … }],
//     secrets: [fake credential values], options, parameters, tools, agent, params, env (at the end) }
//   or { name, rejected: "<why Jenkins would reject the file>" }
//
// A Jenkinsfile that starts `@Library('pipeline-lib') _` calls the steps of that
// shared library: every `<name>.groovy` in its vars/ folder (pipeline-lib/vars
// for `pipeline-lib`; a scenario's `libraries`, { "<name>": "<vars folder>" },
// says otherwise) is compiled and bound as a global `<name>(…)` that runs its
// `call`, with the same steps, env, params and currentBuild as the Jenkinsfile,
// its steps recorded like the rest (a declarative `pipeline { … }` inside one
// works, as in Jenkins). A Jenkinsfile or a vars/ step that does not compile is
// rejected with its file and line.
//
// Exit status: 0 when every scenario ran (whatever its build result), 3 when a
// file was rejected, 2 for bad usage.
import groovy.json.JsonOutput
import groovy.json.JsonSlurper
import java.lang.annotation.Retention
import java.lang.annotation.RetentionPolicy
import org.codehaus.groovy.control.MultipleCompilationErrorsException
import org.codehaus.groovy.control.messages.SyntaxErrorMessage
import org.codehaus.groovy.runtime.InvokerHelper

/** Jenkins' `@Library('name') _`, resolved by the harness before the file runs. */
@Retention(RetentionPolicy.SOURCE)
@interface Library {
  String[] value()
}

/** Jenkins would not run this file. */
class Rejected extends RuntimeException {
  Rejected(String message) { super(message) }
}

/** A step failed: the stage and the build fail. */
class StepFailure extends RuntimeException {
  StepFailure(String message) { super(message) }
}

/** Someone aborted the build (an `input` answered Abort). */
class BuildAborted extends RuntimeException {
  BuildAborted(String message) { super(message) }
}

/** What every directive returns: a directive chained onto it on the same line calls a method here. */
class ChainTrap {
  String after

  def methodMissing(String name, args) {
    throw new Rejected("`${after} { … } ${name} { … }` on one line: Jenkins rejects a block chained " +
        "onto another (a Groovy command chain); start `${name}` on its own line")
  }
}

class Util {
  static Object withDelegate(Closure body, Object delegate) {
    Closure c = (Closure) body.clone()
    c.delegate = delegate
    c.resolveStrategy = Closure.DELEGATE_FIRST
    return c.call()
  }

  /** Plain data for JSON: strings for GStrings, no closures. */
  static Object plain(Object value) {
    if (value instanceof CharSequence) return value.toString()
    if (value instanceof Map) return value.collectEntries { k, v -> [(k.toString()): plain(v)] }
    if (value instanceof Collection || value instanceof Object[]) return value.collect { plain(it) }
    if (value instanceof Closure) return '<closure>'
    return value
  }

  /** The one argument of a step: `sh 'x'` or `sh script: 'x'`. */
  static Map namedOrFirst(Object[] args, String first) {
    if (args.length == 1 && args[0] instanceof Map) return ((Map) args[0]).collectEntries { k, v -> [(k.toString()): v] }
    if (args.length == 1) return [(first): args[0]]
    throw new Rejected("expected one argument, got ${args.length}")
  }

  /** Ant-style branch pattern, as `when { branch '…' }` takes it. */
  static boolean globMatches(String pattern, String value) {
    if (value == null) return false
    StringBuilder regex = new StringBuilder()
    for (int i = 0; i < pattern.length(); i++) {
      char c = pattern.charAt(i)
      if (c == '*' && i + 1 < pattern.length() && pattern.charAt(i + 1) == '*') { regex.append('.*'); i++ }
      else if (c == '*') regex.append('[^/]*')
      else if (c == '?') regex.append('[^/]')
      else regex.append(java.util.regex.Pattern.quote(String.valueOf(c)))
    }
    return value ==~ regex.toString()
  }
}

class StageModel {
  String name
  Closure when
  Closure steps
  Closure environment
  Map<String, Closure> post = [:]
}

class PipelineModel {
  Object agent
  List options = []
  List parameters = []
  Map tools = [:]
  Closure environment
  List<StageModel> stages = []
  Map<String, Closure> post = [:]
  boolean hasStages = false
}

// ---- pass 1: the pipeline block into a model ---------------------------------

class PipelineDsl {
  PipelineModel model = new PipelineModel()

  String getAny() { 'any' }
  String getNone() { 'none' }

  def agent(Object what) {
    if (what instanceof Closure) {
      Map spec = [:]
      Util.withDelegate((Closure) what, new MapDsl(map: spec))
      model.agent = spec
    } else {
      model.agent = what.toString()
    }
    new ChainTrap(after: 'agent')
  }

  def tools(Closure body) {
    Util.withDelegate(body, new MapDsl(map: model.tools))
    new ChainTrap(after: 'tools')
  }

  def options(Closure body) {
    Util.withDelegate(body, new OptionsDsl(options: model.options))
    new ChainTrap(after: 'options')
  }

  def parameters(Closure body) {
    Util.withDelegate(body, new ParametersDsl(parameters: model.parameters))
    new ChainTrap(after: 'parameters')
  }

  def environment(Closure body) {
    model.environment = body
    new ChainTrap(after: 'environment')
  }

  def stages(Closure body) {
    model.hasStages = true
    Util.withDelegate(body, new StagesDsl(stages: model.stages))
    new ChainTrap(after: 'stages')
  }

  def post(Closure body) {
    Util.withDelegate(body, new PostDsl(post: model.post))
    new ChainTrap(after: 'post')
  }

  def methodMissing(String name, args) {
    throw new Rejected("unknown directive `${name}` in pipeline")
  }
}

/** `label 'x'` or `nodejs 'node-24'`: name → value. */
class MapDsl {
  Map map

  def methodMissing(String name, args) {
    Object[] a = (Object[]) args
    map[name] = Util.plain(a.length == 1 ? a[0] : a.toList())
    null
  }
}

class OptionsDsl {
  List options

  def timestamps() { options << [option: 'timestamps']; null }
  def disableConcurrentBuilds(Map args = [:]) { options << [option: 'disableConcurrentBuilds'] + Util.plain(args); null }
  def skipDefaultCheckout(Object value = true) { options << [option: 'skipDefaultCheckout']; null }
  def logRotator(Map args) { [logRotator: Util.plain(args)] }
  def buildDiscarder(Object strategy) { options << [option: 'buildDiscarder', strategy: strategy]; null }
  def timeout(Map args) { options << [option: 'timeout'] + Util.plain(args); null }

  def methodMissing(String name, args) {
    throw new Rejected("unknown option `${name}`")
  }
}

class ParametersDsl {
  List parameters

  def booleanParam(Map args) { parameters << [type: 'booleanParam'] + Util.plain(args); null }
  def string(Map args) { parameters << [type: 'string'] + Util.plain(args); null }
  def choice(Map args) { parameters << [type: 'choice'] + Util.plain(args); null }

  def methodMissing(String name, args) {
    throw new Rejected("unknown parameter type `${name}`")
  }
}

class StagesDsl {
  List<StageModel> stages

  def stage(String name, Closure body) {
    StageModel stage = new StageModel(name: name)
    Util.withDelegate(body, new StageDsl(stage: stage))
    if (stage.steps == null) throw new Rejected("stage '${name}' has no steps")
    stages << stage
    new ChainTrap(after: 'stage')
  }

  def methodMissing(String name, args) {
    throw new Rejected("unknown directive `${name}` in stages (only stage)")
  }
}

class StageDsl {
  StageModel stage

  def when(Closure body) { once('when'); stage.when = body; new ChainTrap(after: 'when') }
  def steps(Closure body) { once('steps'); stage.steps = body; new ChainTrap(after: 'steps') }
  def environment(Closure body) { once('environment'); stage.environment = body; new ChainTrap(after: 'environment') }
  def post(Closure body) {
    Util.withDelegate(body, new PostDsl(post: stage.post))
    new ChainTrap(after: 'post')
  }

  private void once(String directive) {
    if (stage."${directive}" != null) throw new Rejected("stage '${stage.name}' has two `${directive}` blocks")
  }

  def methodMissing(String name, args) {
    throw new Rejected("unknown directive `${name}` in stage '${stage.name}'")
  }
}

class PostDsl {
  static final List<String> CONDITIONS = ['always', 'changed', 'fixed', 'regression', 'aborted', 'failure',
                                          'success', 'unstable', 'unsuccessful', 'cleanup']
  Map<String, Closure> post

  def methodMissing(String name, args) {
    Object[] a = (Object[]) args
    if (!(name in CONDITIONS) || a.length != 1 || !(a[0] instanceof Closure)) {
      throw new Rejected("unknown post condition `${name}`")
    }
    post[name] = (Closure) a[0]
    new ChainTrap(after: name)
  }
}

/** `when { … }` into a condition tree, evaluated when the stage is reached. */
class WhenDsl {
  List conditions = []

  def branch(String pattern) { conditions << [type: 'branch', pattern: pattern]; new ChainTrap(after: 'branch') }
  def changeRequest(Map args = [:]) { conditions << [type: 'changeRequest']; null }
  def buildingTag() { conditions << [type: 'buildingTag']; null }
  def expression(Closure body) { conditions << [type: 'expression', body: body]; new ChainTrap(after: 'expression') }
  def environment(Map args) { conditions << [type: 'environment', name: args.name, value: args.value]; null }
  def not(Closure body) { conditions << [type: 'not', of: nested(body, 'not')]; new ChainTrap(after: 'not') }
  def allOf(Closure body) { conditions << [type: 'allOf', of: nested(body, null)]; new ChainTrap(after: 'allOf') }
  def anyOf(Closure body) { conditions << [type: 'anyOf', of: nested(body, null)]; new ChainTrap(after: 'anyOf') }
  def beforeAgent(boolean value) { null }
  def beforeInput(boolean value) { null }

  private List nested(Closure body, String single) {
    WhenDsl inner = new WhenDsl()
    Util.withDelegate(body, inner)
    if (single && inner.conditions.size() != 1) throw new Rejected("`${single}` takes exactly one condition")
    inner.conditions
  }

  def methodMissing(String name, args) {
    throw new Rejected("unknown when condition `${name}`")
  }
}

// ---- pass 2: running the model, recording the steps ---------------------------

class CurrentBuild {
  Run run
  String getResult() { run.result == 'SUCCESS' ? null : run.result }
  String getCurrentResult() { run.result }
  Map getPreviousBuild() { run.scenario.previousResult ? [result: run.scenario.previousResult] : null }
  long getStartTimeInMillis() { 1764288000000L }
}

/**
 * Bare names resolve to script variables (a library's steps among them), then to
 * environment variables, as in Jenkins; a step called from a library's script
 * (outside any block) resolves here too.
 */
class JenkinsBinding extends Binding {
  private final Run run

  JenkinsBinding(Run run) {
    super()
    this.@run = run
  }

  Object getVariable(String name) {
    if (getVariables().containsKey(name)) return super.getVariable(name)
    if (this.@run.env.containsKey(name)) return this.@run.env[name]
    if (StepsDsl.metaClass.respondsTo(new StepsDsl(run: this.@run), name)) {
      Run run = this.@run
      return { Object[] args -> new StepsDsl(run: run).invokeMethod(name, args) }
    }
    throw new MissingPropertyException(name, JenkinsBinding)
  }
}

class Run {
  Map scenario
  Map env = [:]
  Map params = [:]
  List steps = []
  List stages = []
  Set<String> secrets = new LinkedHashSet<String>()
  /** The loaded libraries' steps, by name. */
  Map<String, Closure> library = [:]
  String stage
  String phase = 'steps'
  String result = 'SUCCESS'
  int secretCount = 0

  void record(Map step) {
    steps << ([stage: stage, phase: phase] + Util.plain(step))
  }

  /** A fake value for a credential, remembered as a secret. */
  String secret(String id, String what) {
    String value = "FAKE-SECRET-${id}-${what}-${++secretCount}".toString()
    secrets << value
    value
  }

  void fail(String result) {
    if (result == 'ABORTED' || this.result == 'SUCCESS' || this.result == 'UNSTABLE') this.result = result
  }

  boolean failsHere(String step, String text) {
    (scenario.fail ?: []).any { f -> f.step == step && text =~ f.matches }
  }
}

/** The steps: each recorded; a scenario can make `sh` (or `input`) fail. */
class StepsDsl {
  Run run

  def sh(Object arg) {
    Map args = Util.namedOrFirst([arg] as Object[], 'script')
    String script = args.script.toString()
    run.record(step: 'sh', script: script)
    boolean failed = run.failsHere('sh', script)
    if (args.returnStatus) return failed ? 1 : 0
    if (failed) throw new StepFailure("script returned exit code 1: ${script}")
    args.returnStdout ? '' : null
  }

  def echo(Object message) { run.record(step: 'echo', message: message.toString()); null }

  def error(Object message) {
    run.record(step: 'error', message: message.toString())
    throw new StepFailure(message.toString())
  }

  def input(Object arg) {
    Map args = Util.namedOrFirst([arg] as Object[], 'message')
    run.record([step: 'input'] + args)
    if (run.scenario.input == 'abort') throw new BuildAborted("input '${args.message}' was aborted")
    null
  }

  def junit(Object arg) { run.record([step: 'junit'] + Util.namedOrFirst([arg] as Object[], 'testResults')); null }

  def archiveArtifacts(Object arg) {
    run.record([step: 'archiveArtifacts'] + Util.namedOrFirst([arg] as Object[], 'artifacts'))
    null
  }

  def recordIssues(Map args) { run.record([step: 'recordIssues'] + args); null }
  def checkStyle(Map args) { [tool: 'checkStyle'] + args }

  def usernamePassword(Map args) { [type: 'usernamePassword'] + args }
  def string(Map args) { [type: 'string'] + args }
  def file(Map args) { [type: 'file'] + args }

  def withCredentials(List bindings, Closure body) {
    Map values = [:]
    List recorded = []
    for (Map b in bindings) {
      String id = b.credentialsId
      if (!id) throw new Rejected("a ${b.type} binding without credentialsId")
      if (b.type == 'usernamePassword') {
        values[b.usernameVariable] = run.secret(id, 'username')
        values[b.passwordVariable] = run.secret(id, 'password')
        recorded << [type: b.type, id: id, variables: [b.usernameVariable, b.passwordVariable]]
      } else if (b.type == 'string' || b.type == 'file') {
        values[b.variable] = run.secret(id, b.type == 'file' ? 'file-path' : 'text')
        recorded << [type: b.type, id: id, variables: [b.variable]]
      } else {
        throw new Rejected("unknown credential binding ${b.type}")
      }
    }
    run.record(step: 'withCredentials', bindings: recorded)
    withEnvValues(values, body)
  }

  def withEnv(List assignments, Closure body) {
    Map values = assignments.collectEntries { String a -> int i = a.indexOf('='); [(a.substring(0, i)): a.substring(i + 1)] }
    run.record(step: 'withEnv', variables: values.keySet().toList())
    withEnvValues(values, body)
  }

  def dir(String path, Closure body) { run.record(step: 'dir', path: path); Util.withDelegate(body, this) }
  def timeout(Map args, Closure body) { run.record([step: 'timeout'] + args); Util.withDelegate(body, this) }
  def script(Closure body) { Util.withDelegate(body, this) }

  private Object withEnvValues(Map values, Closure body) {
    Map saved = values.keySet().collectEntries { [(it): run.env.containsKey(it) ? run.env[it] : null] }
    Set absent = values.keySet().findAll { !run.env.containsKey(it) } as Set
    run.env.putAll(values)
    try {
      return Util.withDelegate(body, this)
    } finally {
      values.keySet().each { k -> if (k in absent) run.env.remove(k) else run.env[k] = saved[k] }
    }
  }

  def methodMissing(String name, args) {
    Closure step = run.library[name]
    if (step != null) return step.call((Object[]) args)
    throw new Rejected("unknown step `${name}`")
  }
}

/** `NAME = value` lines of an `environment` block; `credentials('id')` binds a fake secret. */
class EnvironmentDsl {
  private final Run run

  /** Names set here, with the values they had before (a stage's environment ends with the stage). */
  final Map before = [:]

  EnvironmentDsl(Run run) { this.@run = run }

  void setProperty(String name, Object value) {
    Map env = this.@run.env
    if (!this.@before.containsKey(name)) this.@before[name] = env[name]
    env[name] = value == null ? null : value.toString()
  }

  void restore() {
    this.@before.each { k, v -> if (v == null) this.@run.env.remove(k) else this.@run.env[k] = v }
  }

  def credentials(String id) {
    this.@run.record(step: 'credentials', id: id)
    this.@run.secret(id, 'text')
  }
}

class Interpreter {
  Run run
  PipelineModel model

  void execute() {
    Map env = run.env
    if (model.environment) Util.withDelegate(model.environment, new EnvironmentDsl(run))
    for (StageModel stage in model.stages) {
      run.stage = stage.name
      run.phase = 'steps'
      if (run.result == 'FAILURE' || run.result == 'ABORTED') {
        run.stages << [name: stage.name, status: 'skipped: earlier failure']
        continue
      }
      if (stage.when != null) {
        WhenDsl when = new WhenDsl()
        Util.withDelegate(stage.when, when)
        if (!when.conditions.every { holds(it) }) {
          run.stages << [name: stage.name, status: 'skipped: when']
          continue
        }
      }
      env.STAGE_NAME = stage.name
      EnvironmentDsl stageEnv = new EnvironmentDsl(run)
      String stageResult = runBlock(stage.steps, stage.environment, stageEnv)
      stageResult = runPost(stage.post, stageResult)
      stageEnv.restore()
      env.remove('STAGE_NAME')
      run.stages << [name: stage.name, status: stageResult]
    }
    run.stage = null
    runPost(model.post, run.result)
  }

  /** Runs steps; the result of the block: SUCCESS, FAILURE or ABORTED. */
  private String runBlock(Closure steps, Closure environment = null, EnvironmentDsl envDsl = null) {
    try {
      if (environment) Util.withDelegate(environment, envDsl)
      Util.withDelegate(steps, new StepsDsl(run: run))
      return 'SUCCESS'
    } catch (StepFailure failure) {
      run.record(step: 'failed', message: failure.message)
      run.fail('FAILURE')
      return 'FAILURE'
    } catch (BuildAborted aborted) {
      run.record(step: 'aborted', message: aborted.message)
      run.fail('ABORTED')
      return 'ABORTED'
    }
  }

  /** Jenkins' order of post conditions, each evaluated when it is reached. */
  private String runPost(Map<String, Closure> post, String result) {
    for (String condition in PostDsl.CONDITIONS) {
      Closure body = post[condition]
      if (body == null || !postHolds(condition, result)) continue
      run.phase = "post.${condition}".toString()
      String outcome = runBlock(body)
      if (outcome != 'SUCCESS' && result == 'SUCCESS') result = outcome
    }
    run.phase = 'steps'
    result
  }

  private boolean postHolds(String condition, String result) {
    String previous = run.scenario.previousResult
    switch (condition) {
      case 'always': case 'cleanup': return true
      case 'success': return result == 'SUCCESS'
      case 'failure': return result == 'FAILURE'
      case 'aborted': return result == 'ABORTED'
      case 'unstable': return result == 'UNSTABLE'
      case 'unsuccessful': return result != 'SUCCESS'
      case 'fixed': return result == 'SUCCESS' && previous in ['FAILURE', 'UNSTABLE']
      case 'regression': return previous == 'SUCCESS' && result in ['FAILURE', 'UNSTABLE', 'ABORTED']
      case 'changed': return previous != null && previous != result
    }
    false
  }

  private boolean holds(Map c) {
    switch (c.type) {
      case 'branch': return Util.globMatches(c.pattern, run.env.BRANCH_NAME)
      case 'changeRequest': return run.env.CHANGE_ID != null
      case 'buildingTag': return run.env.TAG_NAME != null
      case 'environment': return run.env[c.name] == c.value
      case 'expression':
        Closure body = (Closure) ((Closure) c.body).clone()
        body.delegate = new StepsDsl(run: run)
        body.resolveStrategy = Closure.OWNER_FIRST
        return body.call() as boolean
      case 'not': return !holds(c.of[0])
      case 'allOf': return c.of.every { holds(it) }
      case 'anyOf': return c.of.any { holds(it) }
    }
    throw new Rejected("unknown condition ${c.type}")
  }
}

@groovy.transform.Field Map<String, Class> compiledFiles = [:]

/**
 * Each file is compiled once (a library step as a class of its own name); every
 * scenario runs a fresh instance of it. A file that does not compile is rejected
 * with its line, as Jenkins rejects it.
 */
Class compiled(String path, String className = null) {
  File file = new File(path)
  if (!file.isFile()) throw new Rejected("${path}: no such file")
  compiledFiles.computeIfAbsent(file.canonicalPath) {
    try {
      new GroovyShell(this.class.classLoader).parse(file.text, className ?: file.name.replaceAll(/[^A-Za-z0-9_]/, '_')).getClass()
    } catch (MultipleCompilationErrorsException e) {
      def first = e.errorCollector.errors[0]
      if (first instanceof SyntaxErrorMessage) {
        def cause = first.cause
        String text = cause.message.replaceFirst(/\s*@ line \d+, column \d+\.\s*$/, '').replaceAll(/\s+/, ' ').trim()
        throw new Rejected("${path}:${cause.line}:${cause.startColumn}: ${text}")
      }
      throw new Rejected("${path}: ${e.message.replaceAll(/\s+/, ' ').trim()}")
    }
  }
}

/** The libraries a Jenkinsfile asks for with `@Library('name')` or `@Library(['a', 'b@1.0'])`. */
List<String> librariesOf(String text) {
  List<String> names = []
  (text =~ /@Library\s*\(([^)]*)\)/).each { match ->
    (match[1] =~ /['"]([^'"@]+)(?:@[^'"]*)?['"]/).each { name -> names << name[1] }
  }
  names
}

/** Binds each step of each library (vars/<step>.groovy) as a global that runs its `call`. */
void loadLibraries(List<String> names, Map folders, Binding binding, Run run) {
  Map defaults = ['pipeline-lib': 'pipeline-lib/vars']
  for (String name in names) {
    String folder = (folders ?: [:])[name] ?: defaults[name]
    if (!folder) throw new Rejected("no library '${name}' is configured (a scenario's libraries names its vars folder)")
    File dir = new File(folder)
    List<File> steps = (dir.listFiles() ?: []).findAll { it.name.endsWith('.groovy') }.sort { it.name }
    if (steps.isEmpty()) throw new Rejected("library '${name}': no steps in ${folder}")
    for (File step in steps) {
      String stepName = step.name - ~/\.groovy$/
      Script script = InvokerHelper.createScript(compiled(step.path, stepName), binding)
      Closure call = { Object[] args -> script.invokeMethod('call', args) }
      run.library[stepName] = call
      binding.setVariable(stepName, call)
    }
  }
}

Map runScenario(String jenkinsfile, Map scenario) {
  Run run = new Run(scenario: scenario)
  Map cr = scenario.changeRequest
  String branch = scenario.branch ?: (cr ? "PR-${cr.id}".toString() : null)
  if (!branch) throw new IllegalArgumentException("scenario ${scenario.name}: no branch")
  run.env.putAll([BRANCH_NAME: branch, BUILD_NUMBER: (scenario.buildNumber ?: 1).toString(),
                  JOB_NAME: "app/${branch}".toString(), BUILD_URL: 'https://jenkins.example/job/app/1/',
                  WORKSPACE: '/workspace'])
  if (cr) run.env.putAll([CHANGE_ID: cr.id.toString(), CHANGE_TARGET: cr.target, CHANGE_BRANCH: cr.branch])
  run.env.putAll(scenario.env ?: [:])

  JenkinsBinding binding = new JenkinsBinding(run)
  binding.setVariable('env', run.env)
  binding.setVariable('params', run.params)
  binding.setVariable('currentBuild', new CurrentBuild(run: run))
  PipelineModel model = null
  binding.setVariable('pipeline', { Closure body ->
    if (model != null) throw new Rejected('two pipeline blocks')
    PipelineDsl dsl = new PipelineDsl()
    Util.withDelegate(body, dsl)
    model = dsl.model
    if (model.agent == null) throw new Rejected('the pipeline has no agent')
    if (!model.hasStages) throw new Rejected('the pipeline has no stages')
    new ChainTrap(after: 'pipeline')
  })

  Map out = [name: scenario.name]
  try {
    Class script = compiled(jenkinsfile)
    loadLibraries(librariesOf(new File(jenkinsfile).text), scenario.libraries, binding, run)
    try {
      InvokerHelper.createScript(script, binding).run()
    } catch (StepFailure failure) {
      // A step failed before the pipeline ran (a library step refusing its arguments).
      run.record(step: 'failed', message: failure.message)
      return out + [result: 'FAILURE', stages: [], steps: run.steps, secrets: run.secrets.toList()]
    }
    if (model == null) throw new Rejected('no pipeline block')
    model.parameters.each { p -> run.params[p.name] = p.defaultValue }
    (scenario.params ?: [:]).each { k, v -> run.params[k] = v }
    new Interpreter(run: run, model: model).execute()
  } catch (Rejected rejected) {
    return out + [rejected: rejected.message]
  }
  out + [result: run.result, stages: run.stages, steps: run.steps, secrets: run.secrets.toList(),
         options: Util.plain(model.options), parameters: model.parameters, tools: model.tools,
         agent: model.agent, params: Util.plain(run.params), env: Util.plain(run.env)]
}

if (args.length != 2) {
  System.err.println('usage: Harness.groovy <Jenkinsfile> <scenario.json or - for stdin>')
  System.exit(2)
}
Object input = new JsonSlurper().parseText(args[1] == "-" ? System.in.text : new File(args[1]).text)
List<Map> scenarios = input instanceof Map && input.scenarios ? input.scenarios : [input]
List results = scenarios.collect { Map s -> runScenario(s.jenkinsfile ?: args[0], s) }
println JsonOutput.prettyPrint(JsonOutput.toJson(input instanceof Map && input.scenarios ? results : results[0]))
System.exit(results.any { it.rejected } ? 3 : 0)
