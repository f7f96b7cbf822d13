/**
 * The config file: immutable records ({@link io.jvhost.backend.config.JvhostConfig} and its parts)
 * and the strict loader ({@link io.jvhost.backend.config.ConfigLoader}) that turns YAML into them, with
 * one message per problem naming the file, the key path and what is wrong.
 *
 * <p>The key names and the default are a promise to users ({@code docs/interface.md}); the default is
 * documented key by key in the resource {@code jvhost-default.yaml} of this package.
 */
package io.jvhost.backend.config;
