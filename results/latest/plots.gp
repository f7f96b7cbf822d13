# Renders the plots of report.md from the .dat files beside it: gnuplot plots.gp
set datafile missing '?'
set grid ytics
set key top left
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:*]

set terminal pngcairo size 1100,420 font 'DejaVu Sans,10'
set output 'loopback.png'
set multiplot layout 1,2 title 'Loopback packet rate through the backend (testpmd front-end, io fwd), medians of 3 runs, 2026-12-01 13:03 UTC'
set xlabel 'frame bytes'
set ylabel 'Mpps'
set key top right
plot 'loopback.dat' using 2:xtic(1) title 'jvhost per-cpu', '' using 3 title 'DPDK testpmd'
set ylabel 'Gbit/s'
set key top left
plot 'loopback.dat' using 4:xtic(1) title 'jvhost per-cpu', '' using 5 title 'DPDK testpmd'
unset multiplot

set terminal pngcairo size 1500,420 font 'DejaVu Sans,10'
set output 'scaling.png'
set multiplot layout 1,3 title 'Scaling with port pairs (64-byte frames, backend on one CPU), medians of 3 runs, 2026-12-01 13:03 UTC'
set style data linespoints
set logscale x 2
set xlabel 'port pairs'
set xrange [0.80:20.00]
set xtics (1, 2, 4, 8, 16)
set key top right
set ylabel 'Mpps (all pairs)'
plot 'scaling.dat' using 1:2 title 'jvhost per-cpu' lw 2 pt 7, '' using 1:3 title 'jvhost per-device' lw 2 pt 7, '' using 1:4 title 'DPDK testpmd' lw 2 pt 7
set ylabel 'context switches/s (backend process)'
plot 'scaling.dat' using 1:5 title 'jvhost per-cpu' lw 2 pt 7, '' using 1:6 title 'jvhost per-device' lw 2 pt 7, '' using 1:7 title 'DPDK testpmd' lw 2 pt 7
set key top left
set ylabel 'CPU ms per million frames'
plot 'scaling.dat' using 1:8 title 'jvhost per-cpu' lw 2 pt 7, '' using 1:9 title 'jvhost per-device' lw 2 pt 7, '' using 1:10 title 'DPDK testpmd' lw 2 pt 7
unset multiplot
unset logscale x
set xtics autofreq
set xrange [*:*]
set key top left
set style data histograms

set terminal pngcairo size 1100,420 font 'DejaVu Sans,10'
set output 'guests.png'
set multiplot layout 1,2 title 'Two TCG guests through the backend, medians of 3 runs, 2026-12-01 13:03 UTC'
set xlabel 'iperf3 write size (bytes)'
set ylabel 'TCP stream Mbit/s'
plot 'guests-stream.dat' using 2:xtic(1) title 'jvhost per-cpu', '' using 3 title 'jvhost per-device', '' using 4 title 'DPDK testpmd'
set xlabel 'parallel connections'
set ylabel 'request/response transactions/s'
plot 'guests-rr.dat' using 2:xtic(1) title 'jvhost per-cpu', '' using 3 title 'jvhost per-device', '' using 4 title 'DPDK testpmd'
unset multiplot
set terminal pngcairo size 1600,460 font 'DejaVu Sans,10'
set output 'offloads.png'
set multiplot layout 1,3 title 'TCP stream with guest offloads (TCG guests, iperf3), medians of 3 runs, 2026-12-01 13:03 UTC'
set xlabel 'iperf3 write size (bytes)'
set ylabel 'Mbit/s'
set key top left
set title 'guest → guest'
plot 'offloads-g2g.dat' using 2:xtic(1) title 'jvhost offloads on', '' using 3 title 'jvhost offloads off', '' using 4 title 'TAP+bridge offloads on', '' using 5 title 'TAP+bridge offloads off', '' using 6 title 'DPDK testpmd tso=1'
set title 'host → guest'
plot 'offloads-h2g.dat' using 2:xtic(1) title 'jvhost offloads on', '' using 3 title 'jvhost offloads off', '' using 4 title 'TAP+bridge offloads on', '' using 5 title 'TAP+bridge offloads off', '' using 6 title 'DPDK testpmd tso=1'
set title 'guest → host'
plot 'offloads-g2h.dat' using 2:xtic(1) title 'jvhost offloads on', '' using 3 title 'jvhost offloads off', '' using 4 title 'TAP+bridge offloads on', '' using 5 title 'TAP+bridge offloads off', '' using 6 title 'DPDK testpmd tso=1'
unset title
unset multiplot
