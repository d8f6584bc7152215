// A small interpreter for declarative Jenkinsfiles, for tests: it evaluates the
// file as a Groovy 2.4 script (the Groovy of Jenkins' pipeline engine) in which
// `pipeline { … }` and its directives are methods whose closures run against
// delegates, and it RECORDS every step instead of running it. Two passes, as
// Jenkins does: the `pipeline` block is read into a model first (an unknown
// directive, a stage without steps or stages, or `when { … } steps { … }`
// chained on one line rejects the file before anything runs), then the stages
// run in order, nested `stages` inside a parent stage included.
//
// Agents: `agent any` (or a label) takes an agent, that is a fresh workspace
// (ws-1, ws-2, …, recorded as an `agent` step, or `node` for a scripted node);
// every recorded step carries the workspace it ran in, null when none is held
// (`agent none`). What needs a workspace (sh, junit, archiveArtifacts, stash,
// unstash, checkout, a secret file) fails without one, as in Jenkins; `stash`
// and `unstash` carry files from one workspace to another by name. A stage's
// order is Jenkins': options (timeout, lock), its `input` directive, its agent,
// its `when` (earlier with beforeOptions, beforeInput or beforeAgent).
//
//   java -cp groovy-all-2.4.21.jar groovy.ui.GroovyMain test/jenkins/Harness.groovy <Jenkinsfile> <scenario.json | ->
//
// A scenario (JSON) sets what Jenkins would: `branch` (BRANCH_NAME), an optional
// `changeRequest` ({ "id": "7", "target": "develop", "branch": "feature/x" }: a
// pull request, BRANCH_NAME PR-<id>), `params`, `env`, `previousResult` (the
// previous build's result, for `fixed`), `fail` ([{ "step": "sh", "matches":
// "<regex>", "stage": "<only in this stage>" }]: that step fails, as a non-zero
// exit does), `input` ("proceed", the default; "abort"; or "timeout": the
// innermost timeout around the input expires, and a file with none around it is
// rejected: it would wait forever) and `newerBuildPassed` (while this build
// waits in an `input`, a newer build of the job passes the milestone of this
// ordinal: this one is superseded, NOT_BUILT, at once if it passed an earlier
// milestone but not that one, else at its next milestone up to that one, as the
// milestone step does). A file of { "scenarios": [ … ] } runs each (a
// scenario's own "jenkinsfile" wins over the argument) and prints a JSON array;
// one scenario prints one JSON object:
//
//   { name, result, stages: [{ name, status, parents, leaf }], steps: [{ stage, phase, workspace, step, … }],
//     secrets: [fake credential values], options, parameters, tools, agent,
//     tree: [{ name, agent, tools, options, input, stages }], params, env (at the end) }
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

/** A newer build passed a milestone this one had not: it ends NOT_BUILT, as the milestone step does. */
class BuildSuperseded extends RuntimeException {
  BuildSuperseded(String message) { super(message) }
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
  /** null: the parent's (or the pipeline's) agent; 'none', 'any', or a map such as [label: 'x']. */
  Object agent
  Map tools = [:]
  List options = []
  /** The stage-level `input` directive, asked before the stage's agent. */
  Map input
  /** Nested sequential stages, instead of steps. */
  List<StageModel> stages
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

/** `agent any`, `agent none` or `agent { label 'x' }`, in a pipeline or a stage. */
class AgentParsing {
  static Object parse(Object what) {
    if (what instanceof Closure) {
      Map spec = [:]
      Util.withDelegate((Closure) what, new MapDsl(map: spec))
      return spec
    }
    what.toString()
  }
}

class PipelineDsl {
  PipelineModel model = new PipelineModel()

  String getAny() { 'any' }
  String getNone() { 'none' }

  def agent(Object what) {
    model.agent = AgentParsing.parse(what)
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
  /** The stage whose options these are; null for the pipeline's. */
  String stage

  def timestamps() { options << [option: 'timestamps']; null }
  def disableConcurrentBuilds(Map args = [:]) {
    pipelineOnly('disableConcurrentBuilds')
    options << [option: 'disableConcurrentBuilds'] + Util.plain(args)
    null
  }
  def skipDefaultCheckout(Object value = true) { options << [option: 'skipDefaultCheckout']; null }
  def logRotator(Map args) { [logRotator: Util.plain(args)] }
  def buildDiscarder(Object strategy) {
    pipelineOnly('buildDiscarder')
    options << [option: 'buildDiscarder', strategy: strategy]
    null
  }
  def timeout(Map args) { options << [option: 'timeout'] + Util.plain(args); null }
  /** Lockable Resources: `lock('name')` or `lock(resource: 'name', …)`. */
  def lock(Object arg) { options << [option: 'lock'] + Util.namedOrFirst([arg] as Object[], 'resource'); null }

  private void pipelineOnly(String option) {
    if (stage != null) throw new Rejected("option `${option}` is not allowed in stage '${stage}' (a pipeline option)")
  }

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
    if (stages.any { it.name == name }) throw new Rejected("Duplicate stage name: \"${name}\"")
    StageModel stage = new StageModel(name: name)
    Util.withDelegate(body, new StageDsl(stage: stage))
    if (stage.steps == null && stage.stages == null) {
      throw new Rejected("Expected one of \"steps\", \"stages\", or \"parallel\" for stage \"${name}\"")
    }
    if (stage.steps != null && stage.stages != null) {
      throw new Rejected("Only one of \"steps\", \"stages\", or \"parallel\" is allowed for stage \"${name}\"")
    }
    stages << stage
    new ChainTrap(after: 'stage')
  }

  def methodMissing(String name, args) {
    throw new Rejected("unknown directive `${name}` in stages (only stage)")
  }
}

class StageDsl {
  StageModel stage

  String getAny() { 'any' }
  String getNone() { 'none' }

  def when(Closure body) { once('when'); stage.when = body; new ChainTrap(after: 'when') }
  def steps(Closure body) { once('steps'); stage.steps = body; new ChainTrap(after: 'steps') }
  def environment(Closure body) { once('environment'); stage.environment = body; new ChainTrap(after: 'environment') }
  def agent(Object what) { once('agent'); stage.agent = AgentParsing.parse(what); new ChainTrap(after: 'agent') }
  def tools(Closure body) { Util.withDelegate(body, new MapDsl(map: stage.tools)); new ChainTrap(after: 'tools') }
  def options(Closure body) {
    Util.withDelegate(body, new OptionsDsl(options: stage.options, stage: stage.name))
    new ChainTrap(after: 'options')
  }
  def input(Closure body) {
    once('input')
    stage.input = [:]
    Util.withDelegate(body, new MapDsl(map: stage.input))
    if (!stage.input.message) throw new Rejected("the input of stage '${stage.name}' has no message")
    new ChainTrap(after: 'input')
  }
  def stages(Closure body) {
    once('stages')
    stage.stages = []
    Util.withDelegate(body, new StagesDsl(stages: stage.stages))
    if (stage.stages.isEmpty()) throw new Rejected("stage '${stage.name}' has an empty stages block")
    new ChainTrap(after: 'stages')
  }
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
  /** Jenkins' order (BuildCondition's ordinals), each evaluated when it is reached. */
  static final List<String> CONDITIONS = ['always', 'changed', 'fixed', 'regression', 'aborted', 'success',
                                          'unsuccessful', 'unstable', 'failure', 'notBuilt', 'cleanup']
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
  boolean beforeAgent = false
  boolean beforeInput = false
  boolean beforeOptions = false

  def branch(String pattern) { conditions << [type: 'branch', pattern: pattern]; new ChainTrap(after: 'branch') }
  def changeRequest(Map args = [:]) { conditions << [type: 'changeRequest']; null }
  def buildingTag() { conditions << [type: 'buildingTag']; null }
  def expression(Closure body) { conditions << [type: 'expression', body: body]; new ChainTrap(after: 'expression') }
  def environment(Map args) { conditions << [type: 'environment', name: args.name, value: args.value]; null }
  def not(Closure body) { conditions << [type: 'not', of: nested(body, 'not')]; new ChainTrap(after: 'not') }
  def allOf(Closure body) { conditions << [type: 'allOf', of: nested(body, null)]; new ChainTrap(after: 'allOf') }
  def anyOf(Closure body) { conditions << [type: 'anyOf', of: nested(body, null)]; new ChainTrap(after: 'anyOf') }
  def beforeAgent(boolean value) { beforeAgent = value; null }
  def beforeInput(boolean value) { beforeInput = value; null }
  def beforeOptions(boolean value) { beforeOptions = value; null }

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
  /** Worse results win, as Jenkins' Result.combine. */
  static final List<String> RESULTS = ['SUCCESS', 'UNSTABLE', 'FAILURE', 'NOT_BUILT', 'ABORTED']
  static final String NO_NODE = "Attempted to execute a step that requires a node context while 'agent none' " +
      "was specified. Be sure to specify your own 'node { ... }' blocks when using 'agent none'."

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
  /** The workspace of the agent the steps run on now (one per agent taken), or null: no agent. */
  String workspace
  int workspaces = 0
  /** Stash name → the workspace it was made in. */
  Map<String, String> stashes = [:]
  /** The ordinal of the last milestone this build passed (0: none). */
  int lastMilestone = 0
  /** The last milestone a newer build passed (0: none yet; the scenario's, once this one waits). */
  int newerPassed = 0
  /** The timeouts around what runs now, outermost first: [time, unit, scope]. */
  List<Map> timeouts = []

  void record(Map step) {
    steps << ([stage: stage, phase: phase, workspace: workspace] + Util.plain(step))
  }

  /** A fake value for a credential, remembered as a secret. */
  String secret(String id, String what) {
    String value = "FAKE-SECRET-${id}-${what}-${++secretCount}".toString()
    secrets << value
    value
  }

  void fail(String result) {
    if (RESULTS.indexOf(result) > RESULTS.indexOf(this.result)) this.result = result
  }

  /** After a failure, an abort or a superseding build, the stages left are skipped. */
  boolean stopped() { result in ['FAILURE', 'ABORTED', 'NOT_BUILT'] }

  boolean failsHere(String step, String text) {
    (scenario.fail ?: []).any { f -> f.step == step && text =~ f.matches && (!f.stage || f.stage == stage) }
  }

  /** Takes an agent: a fresh workspace (a checkout of the same commit, nothing else). */
  String allocate(Object agent, String step) {
    String ws = "ws-${++workspaces}".toString()
    String saved = workspace
    workspace = ws
    record(step: step, agent: agent)
    workspace = saved
    ws
  }

  void requireWorkspace(String step) {
    if (workspace == null) throw new StepFailure("${step}: ${NO_NODE}")
  }

  /**
   * An `input` (step or directive): the scenario answers it ("proceed", "abort",
   * or "timeout": the innermost timeout around it expires). While it waits, a
   * newer build passes the milestone `newerBuildPassed` (an ordinal): that
   * aborts this one if it passed an earlier milestone but not that one.
   */
  void ask(Map args) {
    record([step: 'input'] + args + [timeouts: timeouts.collect { it }])
    if (scenario.newerBuildPassed != null) newerPassed = scenario.newerBuildPassed as int
    int newer = newerPassed
    if (lastMilestone >= 1 && lastMilestone < newer) {
      throw new BuildSuperseded("Superseded by a newer build, which passed milestone ${newer} while this one waited")
    }
    String answer = scenario.input ?: 'proceed'
    if (answer == 'abort') throw new BuildAborted("input '${args.message}' was aborted")
    if (answer == 'timeout') {
      if (timeouts.isEmpty()) {
        throw new Rejected("the scenario times out input '${args.message}', but no timeout is around it: it would wait forever")
      }
      throw new BuildAborted("Timeout has been exceeded (${timeouts[-1].time} ${timeouts[-1].unit}, ${timeouts[-1].scope})")
    }
  }

  Object withTimeout(Map args, String scope, Closure body) {
    timeouts << [time: args.time, unit: args.unit ?: 'MINUTES', scope: scope]
    try {
      return body.call()
    } finally {
      timeouts.remove(timeouts.size() - 1)
    }
  }
}

/** The steps: each recorded; a scenario can make `sh` (or `input`) fail. */
class StepsDsl {
  Run run

  def sh(Object arg) {
    Map args = Util.namedOrFirst([arg] as Object[], 'script')
    String script = args.script.toString()
    run.requireWorkspace('sh')
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
    run.ask(Util.namedOrFirst([arg] as Object[], 'message'))
    null
  }

  /** `milestone()`, `milestone(3)` or `milestone(ordinal: 3, label: '…')`; no ordinal: the next one. */
  def milestone(Object arg = null) {
    Map args = arg == null ? [:] : Util.namedOrFirst([arg] as Object[], 'ordinal')
    int ordinal = args.ordinal != null ? (args.ordinal as int) : run.lastMilestone + 1
    if (ordinal <= run.lastMilestone) {
      throw new StepFailure("Invalid ordinal ${ordinal}, as the previous one was ${run.lastMilestone}")
    }
    run.record(step: 'milestone', ordinal: ordinal, label: args.label)
    if (ordinal <= run.newerPassed) {
      throw new BuildSuperseded("Superseded by a newer build, which already passed milestone ${ordinal}")
    }
    run.lastMilestone = ordinal
    null
  }

  def junit(Object arg) {
    run.requireWorkspace('junit')
    run.record([step: 'junit'] + Util.namedOrFirst([arg] as Object[], 'testResults'))
    null
  }

  def archiveArtifacts(Object arg) {
    run.requireWorkspace('archiveArtifacts')
    run.record([step: 'archiveArtifacts'] + Util.namedOrFirst([arg] as Object[], 'artifacts'))
    null
  }

  def stash(Map args) {
    run.requireWorkspace('stash')
    run.record([step: 'stash'] + args)
    run.stashes[args.name.toString()] = run.workspace
    null
  }

  def unstash(Object arg) {
    String name = Util.namedOrFirst([arg] as Object[], 'name').name.toString()
    run.requireWorkspace('unstash')
    if (!run.stashes.containsKey(name)) throw new StepFailure("No such saved stash ‘${name}’")
    run.record(step: 'unstash', name: name, from: run.stashes[name])
    null
  }

  def getScm() { ['$class': 'GitSCM'] }

  def checkout(Object scm) {
    run.requireWorkspace('checkout')
    run.record(step: 'checkout')
    null
  }

  /** Scripted `node { … }`: takes an agent (a fresh workspace) for its body. */
  def node(Closure body) { node(null, body) }

  def node(String label, Closure body) {
    String saved = run.workspace
    run.workspace = run.allocate(label ?: 'any', 'node')
    try {
      return Util.withDelegate(body, this)
    } finally {
      run.workspace = saved
    }
  }

  /** The NodeJS plugin's wrapper: that installation's bin/ on the PATH. */
  def nodejs(Object arg, Closure body) {
    run.record([step: 'nodejs'] + Util.namedOrFirst([arg] as Object[], 'nodeJSInstallationName'))
    Util.withDelegate(body, this)
  }

  def lock(Object arg, Closure body) {
    run.record([step: 'lock'] + Util.namedOrFirst([arg] as Object[], 'resource'))
    Util.withDelegate(body, this)
  }

  def recordIssues(Map args) {
    run.requireWorkspace('recordIssues')
    run.record([step: 'recordIssues'] + args)
    null
  }
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
        // A secret file is written into the workspace's temporary folder.
        if (b.type == 'file') run.requireWorkspace('withCredentials (file)')
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

  def dir(String path, Closure body) {
    run.requireWorkspace('dir')
    run.record(step: 'dir', path: path)
    Util.withDelegate(body, this)
  }

  def timeout(Map args, Closure body) {
    run.record([step: 'timeout'] + args)
    run.withTimeout(args, 'step') { Util.withDelegate(body, this) }
  }

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

/**
 * Runs the model as Jenkins' ModelInterpreter does. A stage: its `when` (now when
 * it says beforeOptions), its options (timeout, lock), its `when` (beforeInput),
 * its `input` directive, its `when` (beforeAgent), its agent (a fresh workspace),
 * its `when`, then its nested stages and their parent's post, or its steps and
 * post, both on that agent. Without a `before…`, the input is asked and the agent
 * taken even when the `when` then skips the stage, as in Jenkins.
 */
class Interpreter {
  Run run
  PipelineModel model

  void execute() {
    if (model.environment) Util.withDelegate(model.environment, new EnvironmentDsl(run))
    run.workspace = model.agent == 'none' ? null : run.allocate(model.agent, 'agent')
    withOptions(model.options, 'pipeline') {
      runStages(model.stages, [])
      run.stage = null
      runPost(model.post, run.result)
    }
  }

  private void runStages(List<StageModel> stages, List<String> parents) {
    for (StageModel stage in stages) runStage(stage, parents)
  }

  private void runStage(StageModel stage, List<String> parents) {
    String savedStage = run.stage
    String savedWorkspace = run.workspace
    Object savedStageName = run.env.STAGE_NAME
    run.stage = stage.name
    run.phase = 'steps'
    Map entry = [name: stage.name, status: null, parents: parents, leaf: stage.stages == null]
    run.stages << entry
    try {
      if (run.stopped()) {
        skip(stage, entry, 'skipped: earlier failure')
        return
      }
      WhenDsl when = new WhenDsl()
      if (stage.when != null) Util.withDelegate(stage.when, when)
      Boolean passes = null
      Closure whenHolds = { if (passes == null) passes = when.conditions.every { holds(it) }; passes }
      if (when.beforeOptions && !whenHolds()) {
        skip(stage, entry, 'skipped: when')
        return
      }
      entry.status = withOptions(stage.options, "stage ${stage.name}") {
        if (when.beforeInput && !whenHolds()) return 'skipped: when'
        if (stage.input != null) {
          run.phase = 'input'
          String answered = attempt { run.ask(stage.input) }
          run.phase = 'steps'
          if (answered != 'SUCCESS') return answered
        }
        if (when.beforeAgent && !whenHolds()) return 'skipped: when'
        if (stage.agent != null) {
          run.phase = 'agent'
          run.workspace = stage.agent == 'none' ? null : run.allocate(stage.agent, 'agent')
          run.phase = 'steps'
        }
        if (!whenHolds()) return 'skipped: when'
        run.env.STAGE_NAME = stage.name
        EnvironmentDsl stageEnv = new EnvironmentDsl(run)
        try {
          if (stage.environment) Util.withDelegate(stage.environment, stageEnv)
          String result
          if (stage.stages != null) {
            int from = run.stages.size()
            runStages(stage.stages, parents + [stage.name])
            run.stage = stage.name
            run.env.STAGE_NAME = stage.name
            List children = run.stages.subList(from, run.stages.size()).findAll { it.parents.size() == parents.size() + 1 }
            result = children.collect { it.status }.find { it in Run.RESULTS && it != 'SUCCESS' } ?: 'SUCCESS'
          } else {
            result = attempt { Util.withDelegate(stage.steps, new StepsDsl(run: run)) }
          }
          return runPost(stage.post, result)
        } finally {
          stageEnv.restore()
        }
      }
      if (entry.status == 'skipped: when') skip(stage, entry, 'skipped: when')
    } finally {
      run.stage = savedStage
      run.workspace = savedWorkspace
      run.phase = 'steps'
      if (savedStageName == null) run.env.remove('STAGE_NAME') else run.env.STAGE_NAME = savedStageName
    }
  }

  /** Marks a stage and every stage nested in it as skipped. */
  private void skip(StageModel stage, Map entry, String why) {
    entry.status = why
    for (StageModel inner in (stage.stages ?: [])) {
      Map innerEntry = [name: inner.name, status: why, parents: entry.parents + [stage.name], leaf: inner.stages == null]
      run.stages << innerEntry
      skip(inner, innerEntry, why)
    }
  }

  /** The options that wrap what follows: lock, then timeout, in the order written. */
  private Object withOptions(List options, String scope, Closure body) {
    List wrappers = options.findAll { it.option in ['lock', 'timeout'] }
    Closure call = body
    for (Map o in wrappers.reverse()) {
      Closure inner = call
      Map args = o.findAll { k, v -> k != 'option' }
      call = o.option == 'timeout'
          ? { -> run.withTimeout(args, scope, inner) }
          : { -> inner.call() }
    }
    if (scope != 'pipeline') {
      run.phase = 'options'
      wrappers.each { o -> run.record([step: o.option] + o.findAll { k, v -> k != 'option' }) }
      run.phase = 'steps'
    }
    call.call()
  }

  /** Runs a body of steps; SUCCESS, FAILURE, ABORTED or NOT_BUILT (superseded). */
  private String attempt(Closure body) {
    try {
      body.call()
      return 'SUCCESS'
    } catch (StepFailure failure) {
      run.record(step: 'failed', message: failure.message)
      run.fail('FAILURE')
      return 'FAILURE'
    } catch (BuildAborted aborted) {
      run.record(step: 'aborted', message: aborted.message)
      run.fail('ABORTED')
      return 'ABORTED'
    } catch (BuildSuperseded superseded) {
      run.record(step: 'superseded', message: superseded.message)
      run.fail('NOT_BUILT')
      return 'NOT_BUILT'
    }
  }

  /** Jenkins' order of post conditions, each evaluated when it is reached. */
  private String runPost(Map<String, Closure> post, String result) {
    for (String condition in PostDsl.CONDITIONS) {
      Closure body = post[condition]
      if (body == null || !postHolds(condition, result)) continue
      run.phase = "post.${condition}".toString()
      String outcome = attempt { Util.withDelegate(body, new StepsDsl(run: run)) }
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
      case 'notBuilt': return result == 'NOT_BUILT'
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

  /** The stages as declared, for checks on where each runs. */
  static List tree(List<StageModel> stages) {
    stages.collect { StageModel s ->
      [name: s.name, agent: Util.plain(s.agent), tools: s.tools, options: Util.plain(s.options),
       input: Util.plain(s.input), stages: s.stages == null ? null : tree(s.stages)]
    }
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
  binding.setVariable('scm', ['$class': 'GitSCM'])
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
         agent: model.agent, tree: Interpreter.tree(model.stages), params: Util.plain(run.params),
         env: Util.plain(run.env)]
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
