/**
 * Where the guest's vCPUs run: the vCPU threads of a QEMU process
 * ({@link io.jvhost.backend.vcpu.VcpuThreads}), the host CPU each last ran on
 * ({@link io.jvhost.backend.vcpu.LastCpuReader}), both kept per connection by
 * {@link io.jvhost.backend.vcpu.VcpuTracker}, and which vCPU kicks which queue pair
 * ({@link io.jvhost.backend.vcpu.QueuePairVcpus}). The placement policy uses these to put a
 * virtqueue's worker near the vCPU that kicks it.
 *
 * <p>Everything here reads procfs only, under an injectable root so tests can use a fake tree. QEMU
 * names its vCPU threads ({@code CPU 0/KVM}, {@code CPU 1/TCG}, {@code ALL CPUs/TCG}) only when started
 * with {@code -name ...,debug-threads=on} (libvirt always passes it); without it every thread is
 * {@code qemu-system-x86} and no vCPU is found.
 */
package io.jvhost.backend.vcpu;
