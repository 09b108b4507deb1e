import type { ComponentChildren } from 'preact';
import { base, navigate } from '../router.ts';

/** An ordinary link (open in a new tab works) that navigates in place on a plain click. */
export function Link(props: { href: string; children: ComponentChildren; class?: string; current?: boolean }) {
  const onClick = (e: MouseEvent) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(props.href);
  };
  return (
    <a
      href={`${base}${props.href === '/' ? '' : props.href}`}
      class={props.class}
      aria-current={props.current ? 'page' : undefined}
      onClick={onClick}
    >
      {props.children}
    </a>
  );
}
