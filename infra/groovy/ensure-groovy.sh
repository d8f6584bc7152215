#!/usr/bin/env bash
# Makes sure `pipeline lint` can compile Jenkinsfiles with the Groovy that
# Jenkins' pipeline engine runs (2.4.21): Java 17 and Maven from Debian when
# they are missing, then groovy-all 2.4.21 from Maven Central into the local
# Maven repository (~/.m2), where `pipeline lint` looks for it. Idempotent: a
# second call costs a few milliseconds.
#
#   bash infra/groovy/ensure-groovy.sh          # installs what is missing, prints the jar path
#   bash infra/groovy/ensure-groovy.sh --env    # prints `export PIPELINE_GROOVY_JAR=…`
set -euo pipefail
LOG_PREFIX=groovy
source "$(dirname "$0")/../lib.sh"

version=2.4.21
repo=${MAVEN_REPOSITORY:-$HOME/.m2/repository}
jar=$repo/org/codehaus/groovy/groovy-all/$version/groovy-all-$version.jar

if [[ ! -s $jar ]]; then
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v mvn >/dev/null || apt_install maven
  log "fetching org.codehaus.groovy:groovy-all:$version from Maven Central"
  mvn -q -B -Dstyle.color=never "-Dmaven.repo.local=$repo" dependency:get "-Dartifact=org.codehaus.groovy:groovy-all:$version" >&2 ||
    die "could not fetch groovy-all $version with Maven"
  [[ -s $jar ]] || die "Maven finished but $jar is missing"
fi
command -v java >/dev/null || apt_install openjdk-17-jre-headless

if [[ ${1:-} == --env ]]; then
  printf 'export PIPELINE_GROOVY_JAR=%q\n' "$jar"
else
  printf '%s\n' "$jar"
fi
