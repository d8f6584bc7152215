// Compiles Groovy files to the CONVERSION phase (parse and AST, no class
// resolution) with the Groovy that runs it: what Jenkins' CPS engine does first
// with a Jenkinsfile, so a syntax error shows here with its line. One line per
// error on stdout, tab-separated: file, line, column, message. Exit 0 when all
// files parse, 1 when one does not, 2 on bad usage.
//
//   java -cp groovy-all-2.4.21.jar groovy.ui.GroovyMain pipeline-lib/groovy/check-syntax.groovy FILE...
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.MultipleCompilationErrorsException
import org.codehaus.groovy.control.Phases
import org.codehaus.groovy.control.messages.ExceptionMessage
import org.codehaus.groovy.control.messages.SyntaxErrorMessage
import org.codehaus.groovy.syntax.SyntaxException

if (args.length == 0) {
  System.err.println('usage: check-syntax.groovy FILE...')
  System.exit(2)
}
def oneLine = { String s -> s.replaceAll(/[\t\r\n]+/, ' ').trim() }
def failed = false
for (String name : args) {
  def unit = new CompilationUnit(new CompilerConfiguration())
  unit.addSource(new File(name))
  try {
    unit.compile(Phases.CONVERSION)
  } catch (MultipleCompilationErrorsException e) {
    failed = true
    for (message in e.errorCollector.errors) {
      if (message instanceof SyntaxErrorMessage) {
        SyntaxException cause = message.cause
        // Groovy appends " @ line L, column C." to the message; the columns are separate.
        def text = oneLine(cause.message.replaceFirst(/\s*@ line \d+, column \d+\.\s*$/, ''))
        println "${name}\t${cause.line}\t${cause.startColumn}\t${text}"
      } else if (message instanceof ExceptionMessage) {
        println "${name}\t1\t1\t${oneLine(String.valueOf(message.cause.message))}"
      } else {
        println "${name}\t1\t1\t${oneLine(message.toString())}"
      }
    }
  }
}
System.exit(failed ? 1 : 0)
