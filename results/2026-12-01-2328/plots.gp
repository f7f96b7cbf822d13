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
set output 'migration.png'
set multiplot layout 1,2 title 'Live migration of a TCG guest between two backend ports, medians of 3 runs, 2026-12-01 23:28 UTC'
set xlabel 'guest'
set ylabel 'downtime ms'
plot 'migration.dat' using 2:xtic(1) title 'jvhost per-cpu', '' using 3 title 'DPDK testpmd'
set ylabel 'total migration time ms'
plot 'migration.dat' using 4:xtic(1) title 'jvhost per-cpu', '' using 5 title 'DPDK testpmd'
unset multiplot
