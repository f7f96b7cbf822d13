/**
 * The HTTP management endpoint ({@link io.jvhost.backend.management.ManagementServer}) and the view of
 * the daemon it shows ({@link io.jvhost.backend.management.ManagementView} and its status records).
 * Paths, JSON keys and metric names are a promise to users ({@code docs/interface.md}).
 */
package io.jvhost.backend.management;
